// "Copy to clipboard" for an app password or a key: the button names the
// element whose text it copies; a status line says it worked.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        var status = document.getElementById("copy-status");
        var text = button.getAttribute("data-copied");
        if (status) { status.textContent = text; } else { button.textContent = text; }
      });
    });
  });
})();
