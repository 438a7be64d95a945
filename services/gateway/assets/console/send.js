// @ts-check
/* Frames to the gateway, on the one socket the console holds (socket.js opens it). Apart from
 * socket.js so that every view can send without importing the table of handlers that imports
 * the views. A frame sent while the socket is down is dropped: what must not be lost (messages)
 * is kept as pending by its view and resent after the next welcome. */

import { S } from './state.js';

/** @param {import('./frames.js').ClientFrame} frame */
export function send(frame) { if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify(frame)); }

/** A new client_msg_id: the gateway stores a message once per id, however often it is resent. */
export const uid = () => (crypto.randomUUID ? crypto.randomUUID() : 'm-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 12));
