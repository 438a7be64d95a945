// @ts-check
/* The agent's headshot, in the Profile dialog: pick a file, crop it to a square (drag to move,
 * the slider, the wheel or + and − to zoom, arrow keys to move), export it as a 222×222 PNG
 * (a JPEG when the PNG is over the server's 256 KiB) and upload it (PUT /api/v1/me/photo); or
 * remove the photo. */

import { el } from '../dom.js';
import { api, errorText } from '../api.js';

const OUT = 222;       // the exported headshot, in pixels
const VIEW = 240;      // the crop canvas on screen

/**
 * The Photo part of the Profile dialog: the photo now, and the cropper for a new one.
 * `changed(url)` is told the new photo's URL (null once removed).
 * @param {string | null} currentUrl
 * @param {(url: string | null) => void} changed
 */
export function photoEditor(currentUrl, changed) {
  const box = el('section', { class: 'p-photo', 'aria-labelledby': 'profile-photo-h' });
  const now = el('img', { class: 'p-current', id: 'profile-current', alt: 'Your photo', width: 72, height: 72, src: currentUrl || '', hidden: !currentUrl });
  const none = el('span', { class: 'p-none', text: 'No photo', hidden: !!currentUrl });
  const file = el('input', { type: 'file', id: 'profile-file', accept: 'image/png,image/jpeg,image/webp,image/gif' });
  const canvas = el('canvas', { width: VIEW, height: VIEW, class: 'p-canvas', id: 'profile-canvas', tabIndex: 0, role: 'img',
    'aria-label': 'Crop preview: drag or use the arrow keys to move the picture, + and − to zoom' });
  const zoom = el('input', { type: 'range', id: 'profile-zoom', min: 1, max: 4, step: 0.01, value: 1 });
  const status = el('p', { class: 'a-status', role: 'status', 'aria-live': 'polite', id: 'profile-photo-state' });
  const upload = el('button', { type: 'button', class: 'primary', id: 'profile-upload', text: 'Upload photo', disabled: true });
  const remove = el('button', { type: 'button', id: 'profile-remove', text: 'Remove photo', hidden: !currentUrl });
  const crop = el('div', { class: 'p-crop', hidden: true }, canvas,
    el('div', { class: 'a-field' }, el('label', { for: zoom.id, text: 'Zoom' }), zoom), el('p', { class: 'a-hint', text: 'Drag the picture to choose what is in the square.' }));
  box.append(el('h3', { id: 'profile-photo-h', text: 'Photo' }), el('div', { class: 'p-photo-row' }, now, none,
    el('div', { class: 'a-field' }, el('label', { for: file.id, text: 'Choose a picture' }), file)), crop,
    el('div', { class: 'a-actions' }, upload, remove, status));

  /** The picture being cropped: its size, the zoom, the centre shown, a drag going on. */
  const P = {
    /** @type {HTMLImageElement | null} */
    img: null,
    w: 0, h: 0, zoom: 1, x: 0, y: 0,
    /** @type {{x: number, y: number} | null} */
    drag: null,
  };
  // The picture's scale at zoom 1 covers the square; (P.x, P.y) is the centre shown, in image pixels.
  const base = () => Math.max(VIEW / P.w, VIEW / P.h);
  const clamp = () => {
    const sc = base() * P.zoom, half = VIEW / 2 / sc;
    P.x = Math.min(Math.max(P.x, half), P.w - half);
    P.y = Math.min(Math.max(P.y, half), P.h - half);
  };
  /** @param {HTMLCanvasElement} target @param {number} size */
  function draw(target, size) {
    const c = target.getContext('2d');
    if (!c || !P.img) return;
    const sc = base() * P.zoom * (size / VIEW);
    c.fillStyle = '#fff'; c.fillRect(0, 0, size, size);
    c.imageSmoothingQuality = 'high';
    c.drawImage(P.img, size / 2 - P.x * sc, size / 2 - P.y * sc, P.w * sc, P.h * sc);
  }
  const redraw = () => { clamp(); draw(canvas, VIEW); };
  file.addEventListener('change', () => {
    const f = file.files && file.files[0];
    if (!f) return;
    if (!/^image\//.test(f.type)) { status.textContent = 'Choose an image file (PNG or JPEG).'; return; }
    const url = URL.createObjectURL(f);
    const img = new Image();
    img.onload = () => {
      P.img = img; P.w = img.naturalWidth; P.h = img.naturalHeight; P.zoom = 1; zoom.value = '1'; P.x = P.w / 2; P.y = P.h / 2;
      crop.hidden = false; upload.disabled = false; redraw();
      status.textContent = 'Move and zoom the picture, then upload it.';
      URL.revokeObjectURL(url);
    };
    img.onerror = () => { status.textContent = 'This file cannot be read as a picture.'; URL.revokeObjectURL(url); };
    img.src = url;
  });
  zoom.addEventListener('input', () => { if (!P.img) return; P.zoom = Number(zoom.value); redraw(); });
  canvas.addEventListener('pointerdown', (e) => { if (!P.img) return; canvas.setPointerCapture(e.pointerId); P.drag = { x: e.clientX, y: e.clientY }; });
  canvas.addEventListener('pointermove', (e) => {
    if (!P.drag || !P.img) return;
    const sc = base() * P.zoom * (canvas.getBoundingClientRect().width / VIEW || 1);
    P.x -= (e.clientX - P.drag.x) / sc; P.y -= (e.clientY - P.drag.y) / sc;
    P.drag = { x: e.clientX, y: e.clientY };
    redraw();
  });
  const endDrag = () => { P.drag = null; };
  canvas.addEventListener('pointerup', endDrag); canvas.addEventListener('pointercancel', endDrag);
  canvas.addEventListener('wheel', (e) => {
    if (!P.img) return;
    e.preventDefault();
    P.zoom = Math.min(4, Math.max(1, P.zoom * (e.deltaY < 0 ? 1.08 : 1 / 1.08))); zoom.value = String(P.zoom); redraw();
  }, { passive: false });
  canvas.addEventListener('keydown', (e) => {
    if (!P.img) return;
    const step = 10 / (base() * P.zoom);
    const k = e.key;
    if (k === 'ArrowLeft') P.x -= step; else if (k === 'ArrowRight') P.x += step;
    else if (k === 'ArrowUp') P.y -= step; else if (k === 'ArrowDown') P.y += step;
    else if (k === '+' || k === '=') { P.zoom = Math.min(4, P.zoom * 1.1); zoom.value = String(P.zoom); }
    else if (k === '-') { P.zoom = Math.max(1, P.zoom / 1.1); zoom.value = String(P.zoom); }
    else return;
    e.preventDefault(); redraw();
  });
  const shown = (/** @type {string | null} */ url) => {
    now.src = url || ''; now.hidden = !url; none.hidden = !!url; remove.hidden = !url;
  };
  upload.addEventListener('click', async () => {
    if (!P.img) return;
    const out = el('canvas', { width: OUT, height: OUT });
    clamp(); draw(out, OUT);
    upload.disabled = true; upload.textContent = 'Uploading…'; status.textContent = 'Uploading…';
    try {
      // A PNG; a busy photo can make a PNG over the server's 256 KiB, then a JPEG goes instead.
      let blob = await new Promise((done) => out.toBlob(done, 'image/png'));
      if (!blob || blob.size > 250 * 1024) blob = await new Promise((done) => out.toBlob(done, 'image/jpeg', 0.9));
      if (!blob) throw new Error('no picture');
      const res = await api('PUT', '/api/v1/me/photo', blob.type ? blob : new Blob([blob], { type: 'image/png' }));
      if (!res.ok) { status.textContent = 'Not uploaded: ' + errorText(res); upload.textContent = 'Upload photo'; upload.disabled = false; return; }
      const url = res.data && res.data.photo_url;
      shown(url); changed(url || null);
      upload.textContent = 'Uploaded'; status.textContent = 'Your photo is saved.';
      setTimeout(() => { upload.textContent = 'Upload photo'; upload.disabled = false; }, 2000);
    } catch (_) {
      status.textContent = 'Not uploaded: cannot reach the server.'; upload.textContent = 'Upload photo'; upload.disabled = false;
    }
  });
  remove.addEventListener('click', async () => {
    remove.disabled = true; status.textContent = 'Removing…';
    try {
      const r = await api('DELETE', '/api/v1/me/photo');
      if (r.ok) { shown(null); changed(null); status.textContent = 'Photo removed.'; file.focus(); }
      else status.textContent = 'Not removed: ' + errorText(r);
    } catch (_) { status.textContent = 'Not removed: cannot reach the server.'; }
    remove.disabled = false;
  });
  return box;
}
