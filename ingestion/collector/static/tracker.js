/*! LMS Analytics tracker: page views and learning activity. No dependencies.
 *
 * <script async src="https://COLLECTOR/v1/tracker.js" data-write-key="KEY"
 *         data-user-id="USER" data-endpoint="https://COLLECTOR/v1/track"></script>
 *
 * data-endpoint defaults to /v1/track next to this script; data-user-id may be left out
 * (anonymous page views) and set later with lmsAnalytics.identify(id).
 *
 * - One PageView per page view (URL with its query string, so UTM parameters included; path,
 *   title, referrer), sent once, when the page is first hidden or left (visibilitychange,
 *   pagehide), with the seconds it was visible as TimeOnPage; sent with navigator.sendBeacon,
 *   else fetch(keepalive). A page restored from the back/forward cache is a new page view.
 * - SessionID kept in localStorage (else sessionStorage, else memory); a new session starts after
 *   30 minutes without activity (a page view starting or ending, a tracked activity).
 *   EntryPage is true for a session's first page view; ExitPage is left to sessionisation.
 * - lmsAnalytics.track({ActivityType, ResourceType, ResourceID, Action, Duration}) sends a
 *   UserActivity (fields in either spelling; ID, UserID and CreatedAt filled when missing) and
 *   returns a Promise of the collector's answer. Activities pushed before the script loaded
 *   (window.lmsAnalytics = window.lmsAnalytics || []; lmsAnalytics.push({...})) are sent on load.
 * - lmsAnalytics.page() ends the current page view and starts one for the current location
 *   (single-page apps, after a route change); lmsAnalytics.identify(userId) sets the user.
 * The write key goes in the query string: sendBeacon cannot set headers. Bodies are sent as
 * text/plain JSON, a CORS "simple request" (no preflight).
 */
(function (window, document) {
  "use strict";
  var previous = window.lmsAnalytics;
  if (previous && previous.version) return; // loaded twice

  var SESSION_KEY = "lmsAnalytics.session";
  var SESSION_TIMEOUT_MS = 30 * 60 * 1000;
  var script = document.currentScript || document.querySelector("script[data-write-key]");

  function attribute(name) {
    return (script && script.getAttribute(name)) || "";
  }

  var endpoint = attribute("data-endpoint") ||
    (script && script.src ? new URL("/v1/track", script.src).href : "/v1/track");
  var url = endpoint + (endpoint.indexOf("?") < 0 ? "?" : "&") + "write_key=" +
    encodeURIComponent(attribute("data-write-key"));
  var userId = attribute("data-user-id");

  function uuid() {
    var crypto = window.crypto;
    if (crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16), hex = "", i;
    if (crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 15) | 64;
    bytes[8] = (bytes[8] & 63) | 128;
    for (i = 0; i < 16; i++) hex += (bytes[i] + 256).toString(16).slice(1);
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  var storage = (function () {
    var names = ["localStorage", "sessionStorage"], i, store;
    for (i = 0; i < names.length; i++) {
      try {
        store = window[names[i]];
        store.setItem("lmsAnalytics.probe", "1");
        store.removeItem("lmsAnalytics.probe");
        return store;
      } catch (e) { /* disabled or full: try the next one */ }
    }
    var memory = {};
    return {
      getItem: function (key) { return key in memory ? memory[key] : null; },
      setItem: function (key, value) { memory[key] = String(value); }
    };
  })();

  // The current session, or a new one after 30 minutes without activity; records activity now.
  function session() {
    var now = Date.now(), saved = null;
    try { saved = JSON.parse(storage.getItem(SESSION_KEY)); } catch (e) { saved = null; }
    var isNew = !saved || typeof saved.id !== "string" || !(now - saved.last <= SESSION_TIMEOUT_MS);
    var id = isNew ? uuid() : saved.id;
    try { storage.setItem(SESSION_KEY, JSON.stringify({ id: id, last: now })); } catch (e) { /* full */ }
    return { id: id, isNew: isNew };
  }

  function send(event, leaving) {
    var body = JSON.stringify(event);
    if (leaving && navigator.sendBeacon) {
      try {
        if (navigator.sendBeacon(url, body)) return Promise.resolve(null);
      } catch (e) { /* fall back to fetch */ }
    }
    if (!window.fetch) return Promise.resolve(null);
    return window.fetch(url, {
      method: "POST",
      body: body,
      keepalive: true,
      credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" }
    }).then(function (response) { return response.json(); })
      .catch(function () { return null; });
  }

  function has(object, goName, snakeName) {
    return (object[goName] !== undefined && object[goName] !== null && object[goName] !== "") ||
      (object[snakeName] !== undefined && object[snakeName] !== null && object[snakeName] !== "");
  }

  var view = null;

  function startView(referrer) {
    var now = Date.now(), current = session();
    view = {
      id: uuid(),
      sessionId: current.id,
      entry: current.isNew,
      url: window.location.href,
      path: window.location.pathname,
      title: document.title,
      referrer: referrer,
      startedAt: now,
      visibleMs: 0,
      visibleSince: document.visibilityState === "hidden" ? null : now,
      sent: false
    };
  }

  function pauseView() {
    if (view && view.visibleSince !== null) {
      view.visibleMs += Date.now() - view.visibleSince;
      view.visibleSince = null;
    }
  }

  function endView() {
    if (!view || view.sent) return;
    pauseView();
    view.sent = true;
    session();
    send({
      type: "PageView",
      ID: view.id,
      UserID: userId,
      SessionID: view.sessionId,
      URL: view.url,
      Path: view.path,
      Title: view.title || document.title,
      Referrer: view.referrer,
      TimeOnPage: Math.round(view.visibleMs / 1000),
      EntryPage: view.entry,
      ExitPage: false,
      CreatedAt: new Date(view.startedAt).toISOString()
    }, true);
  }

  function track(activity) {
    var event = {}, key;
    for (key in activity || {}) {
      if (Object.prototype.hasOwnProperty.call(activity, key)) event[key] = activity[key];
    }
    event.type = "UserActivity";
    if (!has(event, "ID", "id")) event.ID = uuid();
    if (!has(event, "UserID", "user_id")) event.UserID = userId;
    if (!has(event, "CreatedAt", "created_at")) event.CreatedAt = new Date().toISOString();
    session();
    return send(event, false);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") endView();
    else if (view && !view.sent && view.visibleSince === null) view.visibleSince = Date.now();
  });
  window.addEventListener("pagehide", endView);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) startView(document.referrer); // back/forward cache: a new page view
  });

  window.lmsAnalytics = {
    version: "1",
    track: track,
    identify: function (id) { userId = id ? String(id) : ""; },
    page: function () {
      var from = view ? view.url : document.referrer;
      endView();
      startView(from);
    }
  };
  startView(document.referrer);
  if (previous && previous.length) {
    for (var i = 0; i < previous.length; i++) track(previous[i]);
  }
})(window, document);
