package chaos

// The backend the drawn scenarios run on, registered by name.
import _ "github.com/osupgrade/osupgrade/fakes/sim"
