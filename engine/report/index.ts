/** Delivery metrics and preview comments (no Pulumi imports). */
export * from "./metrics";
export { renderHtml, renderText, deployBins, leadBins, LEAD_BUCKETS, duration } from "./html";
export { previewComment, parsePreview, marker } from "./preview";
