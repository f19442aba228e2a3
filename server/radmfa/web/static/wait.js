// Waiting for a call or push: ask the portal every two seconds whether it
// was answered, then continue by submitting the page's own form (which
// works without this script too: the user presses the button).
(function () {
  "use strict";
  var status = document.getElementById("wait-status");
  var form = document.getElementById("wait-form");
  if (!status || !form) { return; }
  var url = status.getAttribute("data-status-url");
  var tries = 0;
  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.state === "pending" && tries < 150) {
          window.setTimeout(poll, 2000);
          return;
        }
        status.textContent = status.getAttribute(body.state === "approved" ? "data-approved" : "data-over");
        form.submit();
      })
      .catch(function () { window.setTimeout(poll, 4000); });
  }
  window.setTimeout(poll, 1500);
})();
