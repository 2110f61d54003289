/// <reference path="../../js/clicktrail.d.ts" />
// Compiled with `tsc --noEmit --strict` by the test command: the shipped declarations
// must describe the documented snippets and helpers.

trackdesk("TENANT_ID", "click");
trackdesk("TENANT_ID", "click", {}, (r) => r.cid.toLowerCase());
trackdesk("TENANT_ID", "ready", (r) => (r.cid === null ? "none" : r.cid));
trackdesk("TENANT_ID", "conversion", {
  conversionTypeCode: "sale",
  amount: { value: "4.50" },
  externalId: "order-1",
  customParams: { advS1: "literal", advS2: { queryParam: "utm_source" } },
}, (answer) => answer.commission.value);
trackdesk("TENANT_ID", "externalCid", { externalCid: "a@example.com", revenueOriginId: "ro" });
trackdesk("TENANT_ID", "tito", { revenueOriginId: "ro" });
trackdesk("TENANT_ID", "consent", { granted: true });

async function flows(): Promise<void> {
  const ack: { ok: true } = await window.trackdesk.signup("user_123", "user@example.com");
  const cid: string | null = trackdesk.getCid();
  if (window.affitor) {
    await window.affitor.signup("user_123", "user@example.com");
    const clickId: string | null = window.affitor.getClickId();
    window.affitor.trackClick();
    void clickId;
  }
  if (window.growsumo) {
    window.growsumo.data = { name: "Ann", email: "ann@example.com", customer_key: "cus_1" };
    window.growsumo.data.customer_key = 42;
    window.growsumo.createSignup(() => location.assign("/welcome"));
    window.growsumo._initialize("pk_XXXX");
    const partner: string | undefined = window.growsumo.data.partner_key;
    void partner;
  }
  window.TrackdeskObject.f?.("TENANT_ID", "click");
  void ack;
  void cid;
}
void flows;
