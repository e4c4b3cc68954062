// The zone editor page: draw a camera's zones on its picture and save them.
// Points are kept in the zone file's own units (pixels of its frame_size, or 0..1) so
// zones nobody touched are saved with exactly the numbers they had; the canvas shows the
// picture at its natural size and converts only for drawing and for mouse events.
'use strict';

const TOKEN = new URLSearchParams(location.search).get('token') || '';
const COLOURS = ['#ff595e', '#ffca3a', '#8ac926', '#1982c4', '#ff924c', '#52a675',
                 '#c77dff', '#4cc9f0', '#f15bb5', '#e9ff70'];
const OPTIONS = {capacity: 'zone-capacity', dwell_alert_s: 'zone-dwell',
                 enter_after_s: 'zone-enter', exit_after_s: 'zone-exit'};
const HIT_PX = 10;  // how near (in screen pixels) a click must be to hit a corner or edge

const $ = (id) => document.getElementById(id);
const ed = {
  units: {width: 1, height: 1, pixels: true},
  image: {width: 1, height: 1},
  zones: [],            // {source, id, name, polygon: [[x, y] in file units], options...}
  selected: -1,
  point: -1,            // selected corner of the selected zone
  drawing: false,
  drag: null,           // {zone, point, start, original}
  invalid: -1,          // zone named by the last failed check
  snapshot: new Image(),
  background: null,
  dirty: false,
  preview: {on: false, seq: -1, timer: null, counts: {}, pushTimer: null},
};

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {'X-Token': TOKEN, 'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {message: response.statusText}; }
  return {status: response.status, data};
}

// --- coordinates -------------------------------------------------------------------------

const sx = () => ed.image.width / ed.units.width;
const sy = () => ed.image.height / ed.units.height;
const toImage = ([x, y]) => [x * sx(), y * sy()];
function toUnits([x, y]) {
  x = Math.min(Math.max(x, 0), ed.image.width);
  y = Math.min(Math.max(y, 0), ed.image.height);
  const ux = x / sx(), uy = y / sy();
  if (ed.units.pixels) return [Math.round(ux), Math.round(uy)];
  return [Math.round(ux * 10000) / 10000, Math.round(uy * 10000) / 10000];
}
function eventPoint(event) {
  const canvas = $('canvas'), rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * canvas.width / rect.width,
          (event.clientY - rect.top) * canvas.height / rect.height];
}
function screenScale() {
  const canvas = $('canvas');
  return canvas.width / Math.max(1, canvas.getBoundingClientRect().width);
}
const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

function distToSegment(p, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1], len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return dist(p, [a[0] + t * dx, a[1] + t * dy]);
}
function inside(p, poly) {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > p[1]) !== (yj > p[1]) && p[0] < (xj - xi) * (p[1] - yi) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

// --- drawing -----------------------------------------------------------------------------

function colour(i) { return COLOURS[i % COLOURS.length]; }

function render() {
  const canvas = $('canvas'), ctx = canvas.getContext('2d'), k = screenScale();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (ed.background) ctx.drawImage(ed.background, 0, 0, canvas.width, canvas.height);
  ed.zones.forEach((zone, i) => {
    const pts = zone.polygon.map(toImage);
    if (!pts.length) return;
    const selected = i === ed.selected, open = selected && ed.drawing;
    ctx.beginPath();
    pts.forEach(([x, y], n) => (n ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (!open) ctx.closePath();
    ctx.fillStyle = colour(i) + (selected ? '55' : '33');
    if (!open) ctx.fill();
    ctx.lineWidth = (selected ? 3 : 2) * k;
    ctx.strokeStyle = i === ed.invalid ? '#ff5c5c' : colour(i);
    ctx.setLineDash(i === ed.invalid ? [8 * k, 5 * k] : []);
    ctx.stroke();
    ctx.setLineDash([]);
    if (selected) {
      pts.forEach(([x, y], n) => {
        ctx.beginPath();
        ctx.arc(x, y, (n === ed.point || (open && n === 0) ? 7 : 5) * k, 0, 2 * Math.PI);
        ctx.fillStyle = n === ed.point ? '#ffffff' : colour(i);
        ctx.fill();
        ctx.lineWidth = 2 * k;
        ctx.strokeStyle = '#000';
        ctx.stroke();
      });
    }
    label(ctx, zone, pts, i, k);
  });
}

function label(ctx, zone, pts, i, k) {
  const top = pts.reduce((a, b) => (b[1] < a[1] ? b : a));
  const count = ed.preview.on ? ed.preview.counts[zone.id] : undefined;
  const text = zone.id + (count ? `  ${count.count}` : '');
  ctx.font = `${Math.round(14 * k)}px system-ui, sans-serif`;
  const w = ctx.measureText(text).width + 10 * k, h = 20 * k;
  const x = Math.min(Math.max(top[0] - w / 2, 0), ctx.canvas.width - w);
  const y = Math.max(top[1] - h - 6 * k, 0);
  ctx.fillStyle = 'rgba(0,0,0,0.7)';
  ctx.fillRect(x, y, w, h);
  ctx.fillStyle = colour(i);
  ctx.fillText(text, x + 5 * k, y + 15 * k);
}

function renderList() {
  const list = $('zone-list');
  list.replaceChildren();
  ed.zones.forEach((zone, i) => {
    const li = document.createElement('li');
    li.dataset.index = String(i);
    li.className = (i === ed.selected ? 'selected ' : '') + (i === ed.invalid ? 'invalid' : '');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colour(i);
    const name = document.createElement('span');
    name.className = 'zone-name';
    name.textContent = zone.id + (zone.name ? ` · ${zone.name}` : '') +
      (zone.polygon.length < 3 ? ` (${zone.polygon.length} corners)` : '');
    li.append(swatch, name);
    const c = ed.preview.on ? ed.preview.counts[zone.id] : undefined;
    if (c) {
      const badge = document.createElement('span');
      badge.className = 'count' + (c.occupied ? ' occupied' : '');
      badge.textContent = `${c.count} ${c.count === 1 ? 'person' : 'people'}`;
      li.append(badge);
    }
    li.addEventListener('click', () => select(i));
    list.append(li);
  });
  const zone = ed.zones[ed.selected];
  $('zone-form').hidden = !zone;
  $('finish-zone').hidden = !ed.drawing;
  $('add-zone').hidden = ed.drawing;
  $('delete-point').disabled = !zone || ed.point < 0;
  if (zone) {
    const form = {'zone-id': zone.id, 'zone-name': zone.name || ''};
    for (const [key, id] of Object.entries(OPTIONS)) form[id] = zone[key] ?? '';
    for (const [id, value] of Object.entries(form)) {
      if (document.activeElement !== $(id)) $(id).value = String(value);
    }
  }
}

function refresh() { render(); renderList(); }

// The picture as large as fits beside the side panel and within the window's height.
function fit() {
  const canvas = $('canvas'), stage = $('stage');
  const top = stage.getBoundingClientRect().top + window.scrollY;
  const room = Math.max(240, window.innerHeight - top - 48);
  const scale = Math.min(stage.clientWidth / canvas.width, room / canvas.height);
  canvas.style.width = `${Math.floor(canvas.width * scale)}px`;
  canvas.style.height = `${Math.floor(canvas.height * scale)}px`;
  render();
}

// --- editing -----------------------------------------------------------------------------

function changed() {
  ed.dirty = true;
  refresh();
  pushPreviewZones();
}

function select(i, point = -1) {
  if (ed.drawing && i !== ed.selected) finishDrawing();
  ed.selected = i;
  ed.point = point;
  refresh();
}

function newId() {
  const used = new Set(ed.zones.map((z) => z.id));
  let n = ed.zones.length + 1;
  while (used.has(`zone-${n}`)) n += 1;
  return `zone-${n}`;
}

function addZone() {
  if (ed.drawing) finishDrawing();
  ed.zones.push({source: null, id: newId(), name: '', polygon: [],
                 capacity: null, dwell_alert_s: null, enter_after_s: null, exit_after_s: null});
  ed.selected = ed.zones.length - 1;
  ed.point = -1;
  ed.drawing = true;
  refresh();
}

function finishDrawing() {
  ed.drawing = false;
  const zone = ed.zones[ed.selected];
  if (zone && zone.polygon.length === 0) {
    ed.zones.splice(ed.selected, 1);
    ed.selected = -1;
  }
  changed();
}

function deletePoint() {
  const zone = ed.zones[ed.selected];
  if (!zone || ed.point < 0) return;
  zone.polygon.splice(ed.point, 1);
  ed.point = -1;
  changed();
}

function deleteZone() {
  if (ed.selected < 0) return;
  ed.zones.splice(ed.selected, 1);
  ed.selected = -1;
  ed.point = -1;
  ed.drawing = false;
  ed.invalid = -1;
  changed();
}

function hitCorner(p) {
  const r = HIT_PX * screenScale();
  const order = ed.zones.map((_, i) => i).filter((i) => i !== ed.selected).reverse();
  if (ed.selected >= 0) order.unshift(ed.selected);
  for (const i of order) {
    const n = ed.zones[i].polygon.findIndex((q) => dist(toImage(q), p) <= r);
    if (n >= 0) return [i, n];
  }
  return null;
}

function onMouseDown(event) {
  if (event.button !== 0) return;
  const p = eventPoint(event);
  if (ed.drawing) {
    const zone = ed.zones[ed.selected];
    const first = zone.polygon.length ? toImage(zone.polygon[0]) : null;
    if (zone.polygon.length >= 3 && dist(first, p) <= HIT_PX * screenScale()) finishDrawing();
    else { zone.polygon.push(toUnits(p)); changed(); }
    return;
  }
  const corner = hitCorner(p);
  if (corner) {
    select(corner[0], corner[1]);
    ed.drag = {zone: corner[0], point: corner[1]};
    return;
  }
  const zone = ed.zones[ed.selected];
  if (zone && inside(p, zone.polygon.map(toImage))) {
    ed.drag = {zone: ed.selected, point: -1, start: p, original: zone.polygon.map(toImage)};
    return;
  }
  for (let i = ed.zones.length - 1; i >= 0; i -= 1) {
    if (inside(p, ed.zones[i].polygon.map(toImage))) { select(i); return; }
  }
  select(-1);
}

function onMouseMove(event) {
  if (!ed.drag) return;
  const p = eventPoint(event), zone = ed.zones[ed.drag.zone];
  if (ed.drag.point >= 0) {
    zone.polygon[ed.drag.point] = toUnits(p);
  } else {
    const dx = p[0] - ed.drag.start[0], dy = p[1] - ed.drag.start[1];
    zone.polygon = ed.drag.original.map(([x, y]) => toUnits([x + dx, y + dy]));
  }
  ed.dirty = true;
  render();
}

function onMouseUp() {
  if (ed.drag) { ed.drag = null; changed(); }
}

function onDoubleClick(event) {
  const zone = ed.zones[ed.selected];
  if (!zone || ed.drawing) return;
  const p = eventPoint(event), pts = zone.polygon.map(toImage);
  for (let n = 0; n < pts.length; n += 1) {
    if (distToSegment(p, pts[n], pts[(n + 1) % pts.length]) <= HIT_PX * screenScale()) {
      zone.polygon.splice(n + 1, 0, toUnits(p));
      ed.point = n + 1;
      changed();
      return;
    }
  }
}

function onContextMenu(event) {
  const corner = hitCorner(eventPoint(event));
  if (!corner) return;
  event.preventDefault();
  ed.selected = corner[0];
  ed.point = corner[1];
  deletePoint();
}

function onKey(event) {
  const typing = ['INPUT', 'TEXTAREA'].includes(document.activeElement.tagName);
  if (event.key === 'Enter' && ed.drawing) { event.preventDefault(); finishDrawing(); }
  else if (event.key === 'Escape' && ed.drawing) finishDrawing();
  else if ((event.key === 'Delete' || event.key === 'Backspace') && !typing && ed.point >= 0) {
    event.preventDefault();
    deletePoint();
  }
}

function onFormInput(event) {
  const zone = ed.zones[ed.selected];
  if (!zone) return;
  const target = event.target;
  if (target.id === 'zone-id') zone.id = target.value.trim();
  else if (target.id === 'zone-name') zone.name = target.value;
  else {
    const key = Object.keys(OPTIONS).find((k) => OPTIONS[k] === target.id);
    if (key) zone[key] = target.value === '' ? null : Number(target.value);
  }
  changed();
}

// --- check, save ---------------------------------------------------------------------------

function draft() {
  return {zones: ed.zones.map((z) => ({
    source: z.source, id: z.id, name: z.name || null, polygon: z.polygon,
    capacity: z.capacity, dwell_alert_s: z.dwell_alert_s,
    enter_after_s: z.enter_after_s, exit_after_s: z.exit_after_s,
  }))};
}

function showResult(kind, status, message, details = []) {
  const box = $('result');
  box.hidden = false;
  box.className = `result ${kind}`;
  $('status').textContent = status;
  $('message').textContent = message;
  $('details').replaceChildren(...details.map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
}

function showCheck(data, failedTitle) {
  ed.invalid = data.ok ? -1 : (data.zone_index ?? -1);
  if (ed.invalid >= 0) { ed.selected = ed.invalid; ed.point = -1; }
  if (data.ok) showResult('ok', 'Valid', data.message, data.summary || []);
  else showResult('error', failedTitle, data.message);
  refresh();
}

async function check() {
  if (ed.drawing) finishDrawing();
  const {status, data} = await api('/api/check', draft());
  if (status !== 200) showResult('error', 'Check failed', data.message);
  else showCheck(data, 'Not valid: edge-app check would refuse this file');
}

async function save() {
  if (ed.drawing) finishDrawing();
  $('save').disabled = true;
  try {
    const {status, data} = await api('/api/save', draft());
    if (status === 200) {
      ed.invalid = -1;
      loadZones(data.state);
      ed.dirty = false;
      showResult('ok', 'Saved', data.message, [data.reload.message, ...data.summary]);
      refresh();
    } else if (status === 422) {
      showCheck(data, 'Not saved: edge-app check would refuse this file');
    } else {
      showResult('error', 'Not saved', data.message || `error ${status}`);
    }
  } finally {
    $('save').disabled = false;
  }
}

// --- live preview ----------------------------------------------------------------------------

function previewText(s) {
  if (s.error) return `Preview stopped: ${s.error}`;
  if (!s.frame) return s.running ? `Starting the ${s.segmenter} segmenter…` : 'Preview ended.';
  const f = s.frame;
  return `${s.segmenter} segmenter · frame ${f.index} · t ${f.t.toFixed(1)} s · ` +
    `${f.people} ${f.people === 1 ? 'person' : 'people'} · ${f.fps.toFixed(1)} frames/s` +
    (s.running ? '' : ' · ended');
}

function showPreview(s) {
  let text = previewText(s);
  if (s.zones_problem) text += ` · zones not counted: ${s.zones_problem}`;
  $('preview-status').textContent = text;
  ed.preview.counts = {};
  for (const c of (s.frame && s.frame.counts) || []) ed.preview.counts[c.zone] = c;
  if (s.frame && s.frame.seq !== ed.preview.seq) {
    ed.preview.seq = s.frame.seq;
    const img = new Image();
    img.onload = () => { if (ed.preview.on) { ed.background = img; render(); } };
    img.src = `/api/preview.jpg?token=${encodeURIComponent(TOKEN)}&seq=${s.frame.seq}`;
  }
  renderList();
}

async function pollPreview() {
  if (!ed.preview.on) return;
  const {data} = await api('/api/preview');
  if (ed.preview.on) showPreview(data);
  ed.preview.timer = setTimeout(pollPreview, 400);
}

async function togglePreview() {
  ed.preview.on = $('preview-toggle').checked;
  clearTimeout(ed.preview.timer);
  if (ed.preview.on) {
    const {data} = await api('/api/preview', {run: true, ...draft()});
    showPreview(data);
    pollPreview();
  } else {
    await api('/api/preview', {run: false});
    ed.background = ed.snapshot;
    ed.preview.counts = {};
    $('preview-status').textContent = '';
    refresh();
  }
}

function pushPreviewZones() {
  if (!ed.preview.on) return;
  clearTimeout(ed.preview.pushTimer);
  ed.preview.pushTimer = setTimeout(async () => {
    const {data} = await api('/api/preview', draft());
    if (ed.preview.on) showPreview(data);
  }, 300);
}

// --- start -------------------------------------------------------------------------------------

function loadZones(state) {
  ed.units = state.units;
  ed.image = state.image;
  ed.zones = state.zones;
  if (ed.selected >= ed.zones.length) ed.selected = -1;
}

async function start() {
  const {status, data} = await api('/api/state');
  if (status !== 200) { showResult('error', 'Cannot load', data.message || `error ${status}`); return; }
  loadZones(data);
  $('camera').textContent = data.camera;
  $('zones-file').textContent = data.zones_file + (data.exists ? '' : ' (new file)');
  $('preview-toggle').disabled = !data.preview.available;
  const canvas = $('canvas');
  canvas.width = data.image.width;
  canvas.height = data.image.height;
  fit();
  ed.snapshot.onload = () => { ed.background = ed.snapshot; render(); document.body.dataset.ready = '1'; };
  ed.snapshot.src = `/api/frame.jpg?token=${encodeURIComponent(TOKEN)}`;
  if (data.check && !data.check.ok) {
    showCheck(data.check, 'The zone file as it is now does not pass edge-app check');
  }
  refresh();
}

window.addEventListener('DOMContentLoaded', () => {
  const canvas = $('canvas');
  canvas.addEventListener('mousedown', onMouseDown);
  window.addEventListener('mousemove', onMouseMove);
  window.addEventListener('mouseup', onMouseUp);
  canvas.addEventListener('dblclick', onDoubleClick);
  canvas.addEventListener('contextmenu', onContextMenu);
  window.addEventListener('keydown', onKey);
  window.addEventListener('resize', fit);
  window.addEventListener('beforeunload', (event) => { if (ed.dirty) event.preventDefault(); });
  $('zone-form').addEventListener('input', onFormInput);
  $('zone-form').addEventListener('submit', (event) => event.preventDefault());
  $('add-zone').addEventListener('click', addZone);
  $('finish-zone').addEventListener('click', finishDrawing);
  $('delete-point').addEventListener('click', deletePoint);
  $('delete-zone').addEventListener('click', deleteZone);
  $('check').addEventListener('click', check);
  $('save').addEventListener('click', save);
  $('preview-toggle').addEventListener('change', togglePreview);
  start();
});
