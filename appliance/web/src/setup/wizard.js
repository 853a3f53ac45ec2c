// The set-up wizard's only script. The pages work without it: the server
// checks every form. It marks valid fields green as they are typed and, on
// the roles page, blocks Next and Previous until every field is complete
// and valid (the server refuses them too). It mirrors the server's rules
// except those it cannot know (the setup code).
"use strict";
(function () {
  var form = document.getElementById("step-form");
  var roles = document.getElementById("roles");
  if (!form || !roles) { return; }
  var host = (roles.getAttribute("data-hostname") || "").toLowerCase();
  var USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
  function value(name) {
    var el = form.elements[name];
    return el ? el.value : "";
  }
  function userOf(role) {
    return role === "root" ? "root" : value(role + "_user").trim();
  }
  function passwordOk(pw, user) {
    if (pw.length < 10 || new TextEncoder().encode(pw).length > 1024) { return false; }
    if (!/[A-Z]/.test(pw) || !/[a-z]/.test(pw) || !/[0-9]/.test(pw) || !/[^A-Za-z0-9]/.test(pw)) { return false; }
    if (/[\u0000-\u001f\u007f]/.test(pw)) { return false; }
    var low = pw.toLowerCase();
    if (low === user.toLowerCase() || (host && low === host)) { return false; }
    return true;
  }
  var ROLES = ["linotp_admin", "root", "appliance_admin"];
  function check() {
    var ok = {};
    var users = {};
    ROLES.forEach(function (r) {
      if (r !== "root") {
        var u = value(r + "_user").trim();
        ok[r + "_user"] = USER.test(u) && u !== "root";
        users[r] = u;
      }
    });
    if (users.linotp_admin && users.linotp_admin === users.appliance_admin) {
      ok.linotp_admin_user = false;
      ok.appliance_admin_user = false;
    }
    var seen = {};
    ROLES.forEach(function (r) {
      var pw = value(r + "_password");
      var good = passwordOk(pw, userOf(r));
      if (good && seen[pw]) { good = false; ok[seen[pw] + "_password"] = false; }
      if (pw) { seen[pw] = r; }
      ok[r + "_password"] = good;
      ok[r + "_repeat"] = good && value(r + "_repeat") === pw;
    });
    var all = true;
    Object.keys(ok).forEach(function (name) {
      var el = form.elements[name];
      if (!el) { return; }
      var field = el.closest(".field");
      if (field) { field.classList.toggle("valid", ok[name] && el.value !== ""); }
      if (!ok[name]) { all = false; }
    });
    form.querySelectorAll("button[name=action]").forEach(function (b) {
      b.disabled = !all;
      if (all) { b.removeAttribute("title"); } else { b.title = "Blocked until every field is complete and valid"; }
    });
  }
  form.addEventListener("input", check);
  check();
})();
