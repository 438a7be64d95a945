// What services/gateway/assets/widget.js reads and sets on the page's window, for its type check
// (tsconfig.widget.json). Types only: the widget is one classic script and imports nothing.
interface Window {
  /** Set once the widget runs, so a second copy of the snippet does nothing. */
  __showroomWidget?: boolean;
  /** The vehicle the page shows, set before the snippet (see widget.js's header). */
  showroomVehicle?: unknown;
  /** The widget's API for the page: Showroom.setVehicle({...}). */
  Showroom?: { setVehicle?(v: unknown): void };
}
