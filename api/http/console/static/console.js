// metaledger console: small progressive enhancements; every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Time travel: the slider shows its version as it moves and loads it when let go.
  for (const range of document.querySelectorAll("input[data-autosubmit]")) {
    const shown = document.querySelector(`output[for="${range.id}"]`);
    range.addEventListener("input", () => {
      if (shown) shown.textContent = range.value;
      range.setAttribute("aria-valuetext", `version ${range.value} of ${range.max}`);
    });
    range.addEventListener("change", () => range.form.requestSubmit());
  }

  // The stream: the live part is fetched again every few seconds while the tab is visible.
  const live = document.getElementById("live");
  const status = document.getElementById("live-status");
  if (live && live.dataset.poll) {
    let paused = false;
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "quiet";
    toggle.textContent = "Pause";
    toggle.addEventListener("click", () => {
      paused = !paused;
      toggle.textContent = paused ? "Resume" : "Pause";
      status.textContent = paused ? "Live updates paused." : "Live: resuming…";
    });
    status.textContent = "Live: updated every 3 seconds.";
    status.after(" ", toggle);
    const refresh = async () => {
      if (paused || document.hidden) return;
      const response = await fetch(live.dataset.poll, { credentials: "same-origin" });
      if (!response.ok || response.redirected) {
        status.textContent = "Live updates stopped: reload the page (signed out?).";
        clearInterval(timer);
        return;
      }
      live.innerHTML = await response.text();
      status.textContent = `Live: updated ${new Date().toLocaleTimeString()}.`;
    };
    const timer = setInterval(() => refresh().catch(() => {
      status.textContent = "Live: the server did not answer; retrying.";
    }), 3000);
  }
});
