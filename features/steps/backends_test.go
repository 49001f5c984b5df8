package steps

// The backend the suites of this package's tests run on, registered by
// name.
import _ "github.com/osupgrade/osupgrade/fakes/sim"
