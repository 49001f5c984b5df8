// layout-check.js runs in a report page under headless Chromium (see
// chromium_test.go) once the page's fonts are loaded, and writes what it
// found into <pre id="layout-problems"> as JSON: the page wider than the
// window, a box whose content is wider than itself, an SVG text outside
// its SVG (clipped), and two SVG texts drawn over each other.
(function () {
  function check() {
    var problems = [];
    function name(el) {
      var s = el.tagName.toLowerCase();
      if (el.id) s += '#' + el.id;
      var c = el.getAttribute && el.getAttribute('class');
      if (c) s += '.' + c.split(' ').join('.');
      var t = (el.textContent || '').trim().slice(0, 40);
      return t ? s + ' "' + t + '"' : s;
    }
    var de = document.documentElement;
    if (de.scrollWidth > window.innerWidth + 1) {
      problems.push('page: ' + de.scrollWidth + 'px wide in a ' + window.innerWidth + 'px window');
    }
    document.querySelectorAll('body *').forEach(function (el) {
      if (el.closest('svg') || el.id === 'layout-problems') return;
      if (getComputedStyle(el).display === 'inline' || el.clientWidth === 0) return;
      if (el.scrollWidth > el.clientWidth + 1) {
        problems.push('overflow: ' + name(el) + ': content ' + el.scrollWidth + 'px wide in ' + el.clientWidth + 'px');
      }
    });
    document.querySelectorAll('svg').forEach(function (svg, si) {
      if (svg.parentElement.closest('svg')) return;
      var box = svg.getBoundingClientRect();
      var texts = Array.prototype.filter.call(svg.querySelectorAll('text'), function (t) {
        return (t.textContent || '').trim() !== '';
      });
      var rects = texts.map(function (t) { return t.getBoundingClientRect(); });
      texts.forEach(function (t, i) {
        var b = rects[i], label = (t.firstChild && t.firstChild.nodeValue || t.textContent).trim();
        if (b.left < box.left - 1 || b.right > box.right + 1 || b.top < box.top - 1 || b.bottom > box.bottom + 1) {
          problems.push('svg ' + si + ': text "' + label + '" at [' + Math.round(b.left - box.left) + ', ' + Math.round(b.top - box.top) +
            ' – ' + Math.round(b.right - box.left) + ', ' + Math.round(b.bottom - box.top) + '] is outside the ' +
            Math.round(box.width) + '×' + Math.round(box.height) + ' chart');
        }
        for (var j = 0; j < i; j++) {
          var o = rects[j];
          var w = Math.min(b.right, o.right) - Math.max(b.left, o.left);
          var h = Math.min(b.bottom, o.bottom) - Math.max(b.top, o.top);
          if (w > 1 && h > 2) {
            var other = (texts[j].firstChild && texts[j].firstChild.nodeValue || texts[j].textContent).trim();
            problems.push('svg ' + si + ': text "' + label + '" overlaps "' + other + '"');
          }
        }
      });
    });
    var pre = document.createElement('pre');
    pre.id = 'layout-problems';
    pre.setAttribute('data-height', String(de.scrollHeight));
    pre.textContent = JSON.stringify(problems);
    document.body.appendChild(pre);
  }
  if (document.fonts && document.fonts.ready) {
    document.fonts.ready.then(check);
  } else {
    check();
  }
})();
