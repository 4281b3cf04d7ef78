// The login page: POST the password as JSON (a cross-site form cannot), then go to the console.
"use strict";
(function () {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  I18N.apply();
  document.getElementById("lang").addEventListener("click", () => { I18N.toggle(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const password = document.getElementById("password").value;
    const r = await fetch("/api/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password }),
    });
    if (r.ok) { location.href = "/gateway"; return; }
    const key = r.status === 429 ? "login_throttled" : r.status === 503 ? "login_no_password" : "login_wrong";
    error.textContent = I18N.t(key);
    error.dataset.status = String(r.status);
  });
})();
