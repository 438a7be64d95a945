// @ts-check
/* What the Admin tab's sections share: the agent using it, and the group's rooftops,
 * departments, websites and teams, loaded once and again after a change. Forgotten when the
 * agent logs out (tab.js's resetAdmin). */

import { api, errorText } from '../api.js';

/**
 * @typedef {object} Department
 * @property {string} id
 * @property {string} label
 * @property {string | null} [board_section]
 * @property {number} [position]
 */
/**
 * @typedef {object} Rooftop
 * @property {string} id
 * @property {string} name
 * @property {string} [time_zone]
 * @property {string} [country]
 * @property {string | null} [phone]
 * @property {Department[]} [departments]
 * @property {{id: string, name: string, widget_key?: string}[]} [websites]
 */
/** @typedef {{rooftops: Rooftop[], partial: boolean}} Directory */
/** @typedef {{id: string, name: string}} Team */

export const A = {
  /** @type {import('../state.js').Me | null} the agent using the tab (integrations are an admin's) */
  me: null,
  /** @type {Directory | null} */
  directory: null,
  /** @type {Team[] | null} */
  teams: null,
  /** @type {'today' | 'week' | 'month' | 'quarter'} the Dashboard's range */
  range: 'week',
  /** @type {string} the Dashboard's scope: '' (the group), 'r:<rooftop id>' or 'd:<department id>' */
  scope: '',
  /** @type {string | null} id of the website shown in Websites */
  website: null,
  /** @type {{id: string, secret: string} | null} a webhook's signing secret just saved, shown once on its card */
  freshSecret: null,
};

/**
 * The group's rooftops, departments and websites. Reads /api/v1/rooftops; without it (an older
 * gateway), puts them together from the board and the website list.
 * @returns {Promise<Directory>}
 */
export async function loadDirectory() {
  const r = await api('GET', '/api/v1/rooftops');
  if (r.ok && r.data) {
    const list = Array.isArray(r.data) ? r.data : r.data.rooftops || [];
    A.directory = { rooftops: list, partial: false };
    return A.directory;
  }
  if (r.status !== 404 && r.status !== 405) throw new Error(errorText(r, 'Cannot read the rooftops.'));
  const [b, w] = await Promise.all([api('GET', '/api/v1/presence/board'), api('GET', '/api/v1/websites')]);
  /** @type {import('../frames.js').Board | {rooftops?: undefined, departments?: undefined}} */
  const board = (b.ok && b.data) || { rooftops: [], departments: [] };
  /** @type {{id: string, name: string, widget_key?: string, rooftop_id?: string}[]} */
  const sites = (w.ok && Array.isArray(w.data) && w.data) || [];
  const rooftops = (board.rooftops || []).map((rt) => ({
    id: rt.id, name: rt.name || '', time_zone: '', country: '',
    departments: (board.departments || []).filter((d) => d.rooftop_id === rt.id)
      .map((d, i) => ({ id: d.id, label: d.label, board_section: d.section || null, position: i })),
    websites: sites.filter((s) => s.rooftop_id === rt.id).map((s) => ({ id: s.id, name: s.name, widget_key: s.widget_key })),
  }));
  A.directory = { rooftops, partial: true };
  return A.directory;
}

/** The agent using the tab manages the whole group (a manager or an admin); a rooftop manager
 * manages their rooftops only, and the server answers them those alone. */
export const groupWide = () => !!A.me && (A.me.role === 'manager' || A.me.role === 'admin');

/** Every department, with its rooftop. */
export const allDepartments = () => (A.directory ? A.directory.rooftops.flatMap((rt) => (rt.departments || []).map((d) => Object.assign({ rooftop: rt }, d))) : []);
/** "Sales · Showroom Honda". @param {string} id */
export const departmentName = (id) => { const d = allDepartments().find((x) => x.id === id); return d ? d.label + ' · ' + d.rooftop.name : 'Unknown department'; };

/** The group's teams (overflow targets), loaded once. */
export async function loadTeams() {
  if (A.teams) return A.teams;
  const r = await api('GET', '/api/v1/teams');
  A.teams = r.ok && Array.isArray(r.data) ? /** @type {Team[]} */ (r.data) : [];
  return A.teams;
}
