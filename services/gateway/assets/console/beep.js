// @ts-check
/* A short two-tone beep made with the Web Audio API (no file), for notices with `sound` and to
 * let the agent hear what the Sound setting does. Browsers let a page make sound only after a
 * gesture, so the audio is made ready on the first click or key. */

/** @type {AudioContext | null} */
let ctx = null;

function audio() {
  const AC = window.AudioContext || /** @type {{webkitAudioContext?: typeof AudioContext}} */ (/** @type {unknown} */ (window)).webkitAudioContext;
  if (!AC) return null;
  try { if (!ctx) ctx = new AC(); } catch (_) { return null; }
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  return ctx;
}
function unlockAudio() {
  audio();
  window.removeEventListener('pointerdown', unlockAudio, true);
  window.removeEventListener('keydown', unlockAudio, true);
}
window.addEventListener('pointerdown', unlockAudio, true);
window.addEventListener('keydown', unlockAudio, true);

export function beep() {
  const ac = audio();
  if (!ac) return;
  try {
    const t = ac.currentTime + 0.01;
    const osc = ac.createOscillator(), gain = ac.createGain();
    osc.type = 'sine';
    osc.frequency.setValueAtTime(880, t);
    osc.frequency.setValueAtTime(1175, t + 0.12);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.18, t + 0.02);
    gain.gain.setValueAtTime(0.18, t + 0.2);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.32);
    osc.connect(gain);
    gain.connect(ac.destination);
    osc.start(t);
    osc.stop(t + 0.34);
  } catch (_) { /* no sound, then */ }
}
