// Entry point of rasa-widget.js: starts the widget from `window.rasaWidgetConfig` when the page set
// one, and offers `RasaWidget.init(config)` for pages that start it themselves.

import { createWidget } from "./widget.js";

let widget = null;

function init(config) {
  if (!widget) widget = createWidget(config || {});
  return widget;
}

window.RasaWidget = { init };

function autoStart() {
  if (window.rasaWidgetConfig) init(window.rasaWidgetConfig);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", autoStart);
else autoStart();
