// Live updates for the fleetlr console. Each element with data-live-url is refreshed from that
// URL (the server renders the same region again) every data-live-interval milliseconds while the
// page is visible, until the region holds a [data-final] marker (the run ended). Open <details>
// stay open and keyboard focus stays where it was, so a refresh never yanks content away from a
// reader. A session that ended (redirect to sign-in) reloads the page.
"use strict";
(function () {
  for (const region of document.querySelectorAll("[data-live-url]")) {
    const interval = Number(region.dataset.liveInterval) || 2000;
    if (region.querySelector("[data-final]")) continue;
    let busy = false;
    const timer = setInterval(async function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(region.dataset.liveUrl, {
          credentials: "same-origin",
          headers: { accept: "text/html" },
        });
        if (response.redirected || response.status === 401) {
          location.reload();
          return;
        }
        if (!response.ok) return;
        const html = await response.text();
        const open = Array.from(region.querySelectorAll("details[open][id]"), (d) => d.id);
        const focused = region.contains(document.activeElement) ? document.activeElement.id : "";
        region.innerHTML = html;
        for (const id of open) {
          const details = document.getElementById(id);
          if (details) details.open = true;
        }
        if (focused) document.getElementById(focused)?.focus();
        if (region.querySelector("[data-final]")) clearInterval(timer);
      } catch (_) {
        // The daemon may be restarting: the next tick tries again.
      } finally {
        busy = false;
      }
    }, interval);
  }
})();
