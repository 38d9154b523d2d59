(function () {
  "use strict";
  // Tokens live in this page's memory only: nothing is stored, and a reload signs out.
  var page = document.getElementById("page");
  var api = page.dataset.api;
  var texts = JSON.parse(page.dataset.texts);
  var status = document.getElementById("status");
  var token = null;

  function show(text, kind) { status.textContent = text; status.className = kind || ""; }
  function post(path, body, bearer) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (bearer) { headers.Authorization = "Bearer " + bearer; }
    return fetch(api + path, { method: "POST", headers: headers, body: JSON.stringify(body), credentials: "omit" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (json) {
          if (!response.ok) { var error = new Error(json.detail || texts.failed); error.problem = json; throw error; }
          return json;
        });
      });
  }
  function claims(accessToken) {
    var part = accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  }
  function signedIn(pair) {
    token = pair.access_token;
    document.getElementById("who").textContent = pair.user.email;
    document.getElementById("amr").textContent = JSON.stringify(claims(token).amr);
    document.getElementById("signed-out").hidden = true;
    document.getElementById("signed-in").hidden = false;
  }
  function failed(error) {
    var problem = error.problem || {};
    if (problem.code === "invalid_credentials") { show(texts.refused, "error"); return; }
    if (error.name === "NotAllowedError" || error.name === "AbortError") { show(texts.cancelled, "error"); return; }
    show(problem.detail || texts.failed, "error");
  }
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) {
    show(texts.unsupported, "error");
    return;
  }

  document.getElementById("sign-in").addEventListener("click", function () {
    show(texts.working);
    post("/passkeys/authentication-options", {}).then(function (options) {
      return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    }).then(function (credential) {
      return post("/passkeys/authenticate", { credential: credential.toJSON() });
    }).then(function (pair) { signedIn(pair); show(texts.signed_in, "ok"); }, failed);
  });

  document.getElementById("add").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var password = form.elements.password.value;
    var pair;
    show(texts.working);
    post("/login", { email: form.elements.email.value, password: password }).then(function (signedInPair) {
      pair = signedInPair;
      return post("/passkeys/registration-options", { password: password }, pair.access_token);
    }).then(function (options) {
      return navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
    }).then(function (credential) {
      return post("/passkeys", { credential: credential.toJSON(), name: form.elements.name.value || "Passkey" },
        pair.access_token);
    }).then(function () {
      form.elements.password.value = "";
      signedIn(pair);
      show(texts.added, "ok");
    }, failed);
  });

  document.getElementById("sign-out").addEventListener("click", function () {
    post("/logout", {}, token).then(function () {}, function () {}).then(function () {
      token = null;
      document.getElementById("signed-in").hidden = true;
      document.getElementById("signed-out").hidden = false;
      show(texts.signed_out, "ok");
    });
  });
}());
