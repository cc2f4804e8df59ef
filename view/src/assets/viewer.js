// Steps through the trace: one picture per state, the current step
// highlighted in the list. Keys: Right/Down/j/n/space next, Left/Up/k/p
// previous, Home first, End last (the violation).
(function () {
  var n = +document.body.dataset.steps;
  var items = Array.prototype.slice.call(document.querySelectorAll('#steps li'));
  var states = Array.prototype.slice.call(document.querySelectorAll('#pictures .state'));
  var cur = -1;
  var urls = {};
  function save(id, name, text, type) {
    var a = document.getElementById(id);
    if (urls[id]) URL.revokeObjectURL(urls[id]);
    urls[id] = URL.createObjectURL(new Blob([text], { type: type }));
    a.href = urls[id];
    a.download = name;
  }
  function show(i) {
    i = Math.max(0, Math.min(n, i));
    if (i === cur) return;
    cur = i;
    states.forEach(function (s) { s.hidden = +s.dataset.step !== i; });
    items.forEach(function (li) { li.classList.toggle('current', +li.dataset.step === i); });
    var li = items[i];
    document.getElementById('pos').textContent = 'step ' + i + ' / ' + n;
    document.getElementById('action').textContent = i ? li.querySelector('b').textContent : 'initial state';
    document.getElementById('narration').textContent = Array.prototype.map
      .call(li.querySelectorAll('.narr'), function (d) { return d.textContent; }).join('; ');
    li.scrollIntoView({ block: 'nearest' });
    var st = states[i];
    save('save-svg', 'step-' + i + '.svg', st.querySelector('svg').outerHTML, 'image/svg+xml');
    save('save-dot', 'step-' + i + '.dot', st.querySelector('pre.dot').textContent, 'text/vnd.graphviz');
    document.body.dataset.step = i;
    try { history.replaceState(null, '', '#step=' + i); } catch (e) { /* some file:// setups refuse */ }
  }
  document.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var k = e.key;
    if (k === 'ArrowRight' || k === 'ArrowDown' || k === 'j' || k === 'n' || k === ' ') show(cur + 1);
    else if (k === 'ArrowLeft' || k === 'ArrowUp' || k === 'k' || k === 'p') show(cur - 1);
    else if (k === 'Home') show(0);
    else if (k === 'End') show(n);
    else return;
    e.preventDefault();
  });
  items.forEach(function (li) {
    li.addEventListener('click', function (e) { if (!e.target.closest('details')) show(+li.dataset.step); });
  });
  document.getElementById('prev').addEventListener('click', function () { show(cur - 1); });
  document.getElementById('next').addEventListener('click', function () { show(cur + 1); });
  var m = /step=(\d+)/.exec(location.hash);
  show(m ? +m[1] : 0);
})();
