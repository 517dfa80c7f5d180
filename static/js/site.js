/* Behaviour every page shares, kept out of the markup so the Content-Security-Policy can refuse
   inline scripts: the language switch submits on change; a new API token is selected on focus. */
(function () {
  "use strict";
  const language = document.getElementById("language");
  if (language) language.addEventListener("change", function () { this.form.submit(); });
  document.querySelectorAll("input.token-key").forEach(function (input) {
    input.addEventListener("focus", function () { this.select(); });
  });
})();
