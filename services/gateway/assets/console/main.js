// @ts-check
/* The agent console's entry (console.html loads it as its one module, with a modulepreload
 * link for every module it imports). Speaks protocol v1 (docs/protocol.md) over /ws/console,
 * authenticated by the showroom_session cookie set by POST /api/v1/auth/login. Plain ES2022
 * modules, no bundler, no dependencies; all chat text goes in with textContent, never innerHTML.
 *
 * Each module wires its own part of console.html when it is imported (the views call one
 * another as the old single script's functions did, so some import each other; none runs
 * anything but its own wiring at import time). Listed here, view by view, so the page's parts
 * are found in one place; then `boot` opens the console or the login form. */

import './banner.js';
import './status.js';          // the agent's status and auto-away, in the header
import './header.js';          // the agent's name, photo and Profile button
import './notify-prefs.js';    // the bell: notification choices and the browser's permission
import './notices.js';         // desktop and in-page notices
import './tabs.js';            // Chats | Live Agent Status | Leads | Search | Appointments | Admin
import './chat-list.js';       // Incoming, Active, Recent
import './conversation.js';    // the customer chat in the middle panel
import './canned.js';          // its reply box's `/` picker of canned responses
import './details.js';         // its Details column
import './chat-leads.js';      // its leads, and Create lead
import './appointments.js';    // its appointments, booking; the Appointments view
import './transfer.js';        // Transfer, and transfers offered to me
import './group.js';           // managers: the group's chats, Reassign
import './internal.js';        // chats with colleagues
import './internal-forms.js';  // New chat, Invite
import './board.js';           // Live Agent Status
import './leads.js';           // the Leads view
import './search.js';          // the Search view
import './highlight.js';       // a search's matches in the chat it opens
import './admin/tab.js';       // the Admin tab
import './socket.js';          // the socket and its frame handlers
import { boot } from './login.js';

boot();
