// Type declarations of the globals clicktrail's tracking.js installs.
// Ship beside tracking.js; reference with /// <reference path="clicktrail.d.ts" />.

/** Money as Trackdesk sends it: a decimal string, e.g. "4.50". Numbers are rejected. */
interface ClicktrailAmount {
  value: string;
}

/** A custom parameter: a literal, or the value of a query parameter of the current URL. */
type ClicktrailCustomParam = string | { queryParam: string };

interface ClicktrailConversionParams {
  conversionType?: string;
  conversionTypeCode?: string;
  amount?: ClicktrailAmount;
  externalId?: string;
  customerId?: string;
  status?: "pending" | "approved" | "declined";
  couponCodes?: string[];
  /** With `externalCid`, the conversion is attributed through the external id's link. */
  revenueOriginId?: string;
  externalCid?: string;
  customParams?: Partial<Record<"advS1" | "advS2" | "advS3" | "advS4" | "advS5", ClicktrailCustomParam>>;
}

interface ClicktrailClickResult {
  cid: string;
  /** RFC 3339 expiry of the attribution; null until the collector has answered. */
  expiredAt: string | null;
}

interface ClicktrailReadyResult {
  cid: string | null;
}

/** The collector's answer to a conversion. */
interface ClicktrailConversionResult {
  conversionId: string;
  status: "pending" | "approved" | "declined";
  commission: ClicktrailAmount;
  attributed: boolean;
}

interface TrackdeskFunction {
  (tenantId: string, command: "click", params?: {}, callback?: (result: ClicktrailClickResult) => void): void;
  (tenantId: string, command: "ready", callback: (result: ClicktrailReadyResult) => void): void;
  (tenantId: string, command: "ready", params: {}, callback: (result: ClicktrailReadyResult) => void): void;
  (tenantId: string, command: "conversion", params: ClicktrailConversionParams, callback?: (result: ClicktrailConversionResult) => void): void;
  (tenantId: string, command: "externalCid", params: { externalCid: string; revenueOriginId: string }, callback?: (result: { ok: true }) => void): void;
  (tenantId: string, command: "signup", params: { customerKey: string; email?: string }, callback?: (result: { ok: true }) => void): void;
  (tenantId: string, command: "tito", params: { revenueOriginId: string }): void;
  (tenantId: string, command: "consent", params: { granted: boolean }): void;
  /**
   * Resolves once the collector acknowledged the lead; rejects with an Error whose
   * message starts with "clicktrail: " (a 5xx/network failure still delivers it later;
   * no CID for this visitor; tracking stopped after an internal error).
   */
  signup(customerKey: string, email?: string): Promise<{ ok: true }>;
  /** The visitor's CID from the `trakdesk_cid` cookie, or null. */
  getCid(): string | null;
  /** The queue of calls made before the tracker loaded (the install stub's). */
  q?: IArguments[];
}

interface AffitorApi {
  /**
   * As trackdesk.signup, for the program's tenant; for a visitor without a click id
   * (organic) the lead carries the customer key alone and the Promise still resolves.
   */
  signup(customerKey: string, email?: string): Promise<{ ok: true }>;
  /** The click id (CID) of this visitor, or null. */
  getClickId(): string | null;
  /** Runs click attribution for the program again (e.g. after a client-side navigation). */
  trackClick(): void;
}

/** PartnerStack's `growsumo.data`: what `createSignup` sends (PartnerStack's fields). */
interface GrowsumoData {
  name?: string;
  email?: string;
  /** The lead's customer key; without it, the email is. */
  customer_key?: string | number;
  /** Set by the tracker: the visitor's partner key (affiliate code), when referred. */
  partner_key?: string;
  /** The same, under the name PartnerStackJS uses. */
  ps_partner_key?: string;
  [field: string]: unknown;
}

/** PartnerStack mode (`tracking.js?partnerstack=TENANT_ID` or `data-partnerstack`). */
interface Growsumo {
  data: GrowsumoData;
  /**
   * A lead for the tenant from `growsumo.data` (with the visitor's CID, or the customer key
   * alone for an organic visitor). `callback` is called exactly once: when the collector
   * has acknowledged the lead, or after 3 s (the lead stays queued), or at once when there
   * is no customer key and no email; what it throws is caught.
   */
  createSignup(callback?: () => void): void;
  /** PartnerStack's snippet calls it; the key is ignored. */
  _initialize(key?: string): void;
  initialize(key?: string): void;
}

interface Window {
  trackdesk: TrackdeskFunction;
  /** PartnerStack mode only. */
  growsumo?: Growsumo;
  /** Names of the global dispatchers (normally ["trackdesk"]); `.f` is the live dispatcher. */
  TrackdeskObject: string[] & { f?: TrackdeskFunction };
  affitor?: AffitorApi;
  /** Calls queued before load: ["signup" | "getClickId" | "trackClick", ...args]. */
  affitorQueue?: Array<[string, ...unknown[]]>;
}

declare var trackdesk: TrackdeskFunction;
