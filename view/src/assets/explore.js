// The explorer: the path (actions taken so far) lives in the URL hash; the
// server replays it and answers with the steps, the picture of the last
// state, the enabled actions and any violation. Click an action to take it,
// a step to go back to it, Backspace to undo one action.
(function () {
  var body = document.body;
  var path = JSON.parse(body.dataset.start);
  var m = /path=([^&]*)/.exec(location.hash);
  if (m) path = decodeURIComponent(m[1]).split('\n').filter(function (l) { return l.trim(); });
  var actions = [];
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function go(p) { path = p; load(); }
  function renderActions() {
    var list = document.getElementById('list');
    var f = document.getElementById('filter').value.trim().toLowerCase();
    list.innerHTML = '';
    var shown = actions.filter(function (a) { return !f || a.toLowerCase().indexOf(f) >= 0; });
    if (!shown.length) list.appendChild(el('div', 'none', actions.length ? 'no action matches' : 'no action is enabled'));
    shown.forEach(function (a) {
      var b = el('button', 'action', a);
      b.dataset.action = a;
      b.addEventListener('click', function () { go(path.concat([a])); });
      list.appendChild(b);
    });
  }
  function load() {
    body.dataset.loading = '1';
    try { history.replaceState(null, '', '#path=' + encodeURIComponent(path.join('\n'))); } catch (e) { }
    fetch('/api/view?path=' + encodeURIComponent(path.join('\n'))).then(function (r) { return r.json(); }).then(function (v) {
      var err = document.getElementById('error');
      err.textContent = v.error || '';
      if (v.error) { body.dataset.loading = '0'; return; }
      document.getElementById('kernel').textContent = v.title + ' (kernel ' + v.kernel + ')';
      var ol = document.getElementById('path');
      ol.innerHTML = '';
      var items = [{ action: 'initial state', narration: [] }].concat(v.steps);
      items.forEach(function (s, i) {
        var li = el('li');
        li.dataset.step = i;
        li.appendChild(el('b', '', s.action));
        s.narration.forEach(function (n) { li.appendChild(el('div', 'narr', n)); });
        if (i === items.length - 1) li.className = 'current';
        li.addEventListener('click', function () { go(path.slice(0, i)); });
        ol.appendChild(li);
      });
      var last = items[items.length - 1];
      document.getElementById('pos').textContent = 'depth ' + v.steps.length;
      document.getElementById('narration').textContent = last.narration.join('; ');
      document.getElementById('picture').innerHTML = v.svg;
      var vio = document.getElementById('violations');
      vio.innerHTML = '';
      if (v.violation) {
        var d = el('div', 'violated');
        d.appendChild(el('b', '', 'VIOLATED ' + v.violation.invariant + ': '));
        d.appendChild(document.createTextNode(v.violation.objects));
        vio.appendChild(d);
      }
      actions = v.actions;
      renderActions();
      body.dataset.depth = v.steps.length;
      body.dataset.loading = '0';
    }).catch(function (e) {
      document.getElementById('error').textContent = 'request failed: ' + e;
      body.dataset.loading = '0';
    });
  }
  document.getElementById('filter').addEventListener('input', renderActions);
  document.getElementById('back').addEventListener('click', function () { if (path.length) go(path.slice(0, -1)); });
  document.getElementById('restart').addEventListener('click', function () { go([]); });
  document.addEventListener('keydown', function (e) {
    if (e.target.tagName === 'INPUT') return;
    if (e.key === 'Backspace' && path.length) { e.preventDefault(); go(path.slice(0, -1)); }
  });
  load();
})();
