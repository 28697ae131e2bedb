/** The public face of report/: what other rooms may use. */

export { parseDay, type Period, periodOf, type ReportKind } from "./period.ts";
export {
  accountScope,
  announcement,
  reportComponent,
  reportLink,
  serviceScope,
} from "./component.ts";
export { buildReport, listReports, reportById, type StoredReport } from "./store.ts";
export { num, pct, renderPage } from "./page.ts";
