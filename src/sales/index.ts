import type { CrmWebhookOptions } from './crm';
import type { SalesDirectory } from './directory';

export { loadSalesDirectory, parseSalesConfig, SalesConfigError, SalesDirectory } from './directory';
export type { CrmWebhookOptions } from './crm';

/** What activities need for sales hand-offs: the teams (journeys/sales/teams.yaml) and the CRM webhook. */
export type SalesDeps = {
  directory: SalesDirectory;
  crmWebhook?: CrmWebhookOptions;
};
