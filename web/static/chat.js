// The resident web chat: sends what the resident types or presses to /chat/api/*,
// draws the replies (text, inline buttons, the location/phone keyboard) and polls for
// notifications. On load it draws the recent conversation (/chat/api/history), with
// the buttons of the choice still pending live. Every text is put in with textContent:
// nothing a reply says is ever read as HTML.
"use strict";

(function () {
  const body = document.body;
  const STRINGS = JSON.parse(body.dataset.strings);
  const MAX_PHOTO = Number(body.dataset.maxPhoto);
  const HEADER = body.dataset.header;
  const POLL_MS = 4000;

  let language = document.documentElement.lang === "en" ? "en" : "zh";
  let replyTo = null; // the notice a comment answers
  let busy = false;

  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const text = $("text");
  const keyboard = $("keyboard");
  const phoneForm = $("phone-form");

  function s(key, values) {
    let sentence = (STRINGS[language] || STRINGS.zh)[key] || key;
    for (const [name, value] of Object.entries(values || {})) {
      sentence = sentence.split("{" + name + "}").join(String(value));
    }
    return sentence;
  }

  function chrome() {
    document.documentElement.lang = language;
    document.title = s("web_title");
    $("title").textContent = s("web_title");
    $("tickets-button").textContent = s("web_my_tickets");
    $("new-button").textContent = s("web_new_request");
    $("lang-button").textContent = s("web_other_language");
    $("tickets-title").textContent = s("web_my_tickets");
    $("tickets-close").textContent = s("web_close");
    $("photo-text").textContent = s("web_photo");
    $("send").textContent = s("web_send");
    $("phone-send").textContent = s("web_send");
    $("phone-input").placeholder = s("web_phone_placeholder");
    text.placeholder = replyTo ? s("web_comment_placeholder") : s("web_placeholder");
  }

  function setLanguage(next) {
    if ((next === "zh" || next === "en") && next !== language) {
      language = next;
      chrome();
    }
  }

  function scroll() {
    log.scrollTop = log.scrollHeight;
    window.scrollTo(0, document.body.scrollHeight);
  }

  // Phone numbers in the assistant's words (110/119/120, hotlines such as 12345 or
  // 021-62345101, mobiles) become tap-to-call links; ticket numbers and times do not.
  const PHONE = /(?<![\w\-+:.])(\+?86[ -]?)?(0\d{2,3}-?\d{3,4}[ -]?\d{4}|1[3-9]\d{9}|11[09]|12[02]|12345|9[56]\d{3})(?![\w\-:.])/g;

  function withCallLinks(p, words) {
    let at = 0;
    for (const match of words.matchAll(PHONE)) {
      p.appendChild(document.createTextNode(words.slice(at, match.index)));
      const link = document.createElement("a");
      link.href = "tel:" + match[0].replace(/[^\d+]/g, "");
      link.textContent = match[0];
      p.appendChild(link);
      at = match.index + match[0].length;
    }
    p.appendChild(document.createTextNode(words.slice(at)));
  }

  function bubble(who, words) {
    const item = document.createElement("div");
    item.className = "msg " + who;
    const p = document.createElement("p");
    if (who === "bot") withCallLinks(p, String(words || ""));
    else p.textContent = words;
    item.appendChild(p);
    log.appendChild(item);
    scroll();
    return item;
  }

  function disableButtons(item) {
    for (const button of item.querySelectorAll("button")) button.disabled = true;
  }

  // `live` false: a reply of the restored history that is no longer pending, drawn
  // with its buttons disabled and without its keyboard.
  function drawReply(reply, live = true) {
    const item = bubble("bot", reply.text);
    if (reply.notice) item.dataset.notice = reply.notice;
    for (const row of reply.rows || []) {
      const line = document.createElement("div");
      line.className = "buttons";
      for (const button of row) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = button.title;
        b.disabled = !live;
        b.addEventListener("click", () => {
          disableButtons(item);
          b.classList.add("chosen");
          press(button.payload, button.title);
        });
        line.appendChild(b);
      }
      item.appendChild(line);
    }
    if (live && reply.reply_kind === "rating_comment" && reply.notice) {
      const line = document.createElement("div");
      line.className = "buttons";
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = s("web_comment");
      b.addEventListener("click", () => {
        replyTo = reply.notice;
        text.placeholder = s("web_comment_placeholder");
        text.focus();
      });
      line.appendChild(b);
      item.appendChild(line);
    }
    if (live && reply.keyboard) drawKeyboard(reply.keyboard);
    scroll();
  }

  function hideKeyboard() {
    keyboard.hidden = true;
    keyboard.textContent = "";
    phoneForm.hidden = true;
  }

  function drawKeyboard(rows) {
    keyboard.textContent = "";
    for (const row of rows) {
      const line = document.createElement("div");
      line.className = "buttons";
      for (const key of row) {
        const b = document.createElement("button");
        b.type = "button";
        if (key.kind === "location") {
          b.textContent = s("web_share_location");
          b.dataset.kind = "location";
          b.addEventListener("click", shareLocation);
        } else if (key.kind === "contact") {
          b.textContent = s("web_send_phone");
          b.dataset.kind = "contact";
          b.addEventListener("click", () => {
            phoneForm.hidden = false;
            $("phone-input").focus();
          });
        } else {
          b.textContent = key.text;
          b.addEventListener("click", () => say(key.text));
        }
        line.appendChild(b);
      }
      keyboard.appendChild(line);
    }
    keyboard.hidden = false;
  }

  async function call(method, path, payload, isForm) {
    const headers = { [HEADER]: "1" };
    const options = { method, headers, credentials: "same-origin" };
    if (payload !== undefined) {
      if (isForm) {
        options.body = payload;
      } else {
        headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(payload);
      }
    }
    const response = await fetch(path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    return { status: response.status, data };
  }

  function show(data) {
    if (!data) return;
    if (data.language) setLanguage(data.language);
    for (const reply of data.replies || []) drawReply(reply);
  }

  async function send(path, payload, isForm) {
    if (busy) return false;
    busy = true;
    body.classList.add("busy");
    try {
      const { status, data } = await call("POST", path, payload, isForm);
      if (data && data.replies) {
        show(data);
      } else if (status === 413) {
        bubble("bot error", s("photo_too_large"));
      } else {
        bubble("bot error", s("web_network_error"));
      }
      return true;
    } catch (error) {
      bubble("bot error", s("web_network_error"));
      return false;
    } finally {
      busy = false;
      body.classList.remove("busy");
    }
  }

  function say(words) {
    const trimmed = words.trim();
    if (!trimmed || busy) return;
    hideKeyboard();
    bubble("me", trimmed);
    const payload = { text: trimmed };
    if (replyTo) payload.reply_to = replyTo;
    replyTo = null;
    text.placeholder = s("web_placeholder");
    send("/chat/api/message", payload);
  }

  function press(payload, title) {
    if (title) bubble("me", title);
    hideKeyboard();
    return send("/chat/api/press", { payload });
  }

  function shareLocation() {
    if (!navigator.geolocation) {
      bubble("bot error", s("web_location_failed"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const { latitude, longitude } = position.coords;
        hideKeyboard();
        bubble("me", "📍 " + latitude.toFixed(5) + ", " + longitude.toFixed(5));
        send("/chat/api/location", { latitude, longitude });
      },
      () => bubble("bot error", s("web_location_failed")),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  }

  async function sendPhoto(file) {
    if (file.size > MAX_PHOTO) {
      bubble("bot error", s("photo_too_large"));
      return;
    }
    const form = new FormData();
    form.append("photo", file, file.name || "photo.jpg");
    const note = bubble("me", s("web_uploading"));
    hideKeyboard();
    if (await send("/chat/api/photo", form, true)) note.querySelector("p").textContent = "📷 " + (file.name || "");
  }

  async function showTickets() {
    const list = $("tickets-list");
    list.textContent = "";
    $("tickets").hidden = false;
    let result;
    try {
      result = await call("GET", "/chat/api/tickets");
    } catch (error) {
      result = { data: null };
    }
    const data = result.data;
    if (!data || !data.tickets) {
      const li = document.createElement("li");
      li.textContent = s("web_network_error");
      list.appendChild(li);
      return;
    }
    setLanguage(data.language);
    if (!data.tickets.length) {
      const li = document.createElement("li");
      li.textContent = s("no_tickets");
      list.appendChild(li);
    }
    for (const ticket of data.tickets) {
      const li = document.createElement("li");
      li.className = "ticket status-" + ticket.status;
      const head = document.createElement("div");
      head.className = "ticket-head";
      const number = document.createElement("strong");
      number.textContent = ticket.number;
      const status = document.createElement("span");
      status.className = "status";
      status.textContent = ticket.status_name;
      head.append(number, status);
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = ticket.category + " · " + ticket.created;
      const description = document.createElement("p");
      description.textContent = ticket.description;
      li.append(head, meta, description);
      if (ticket.cancel) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "secondary";
        b.textContent = s("web_cancel_ticket");
        b.addEventListener("click", async () => {
          if (!window.confirm(s("web_confirm_cancel", { number: ticket.number }))) return;
          $("tickets").hidden = true;
          await press(ticket.cancel, s("web_cancel_ticket") + " " + ticket.number);
        });
        li.appendChild(b);
      }
      if (ticket.rate && ticket.rate.length) {
        const row = document.createElement("div");
        row.className = "rate-row";
        for (const choice of ticket.rate) {
          const star = document.createElement("button");
          star.type = "button";
          star.textContent = s("btn_stars", { stars: choice.stars });
          star.addEventListener("click", async () => {
            $("tickets").hidden = true;
            await press(choice.payload, star.textContent + " " + ticket.number);
          });
          row.appendChild(star);
        }
        li.appendChild(row);
      }
      if (ticket.not_fixed) {
        const again = document.createElement("button");
        again.type = "button";
        again.className = "secondary";
        again.textContent = s("btn_not_fixed");
        again.addEventListener("click", async () => {
          $("tickets").hidden = true;
          await press(ticket.not_fixed, again.textContent + " " + ticket.number);
        });
        li.appendChild(again);
      }
      list.appendChild(li);
    }
  }

  // The conversation so far (after a reload), under the welcome line; nothing is typed
  // or sent until it is drawn. Without it (offline, engine down) the welcome stays alone.
  async function restore() {
    busy = true;
    body.classList.add("busy");
    try {
      const { data } = await call("GET", "/chat/api/history");
      if (data && Array.isArray(data.history)) {
        if (data.language) setLanguage(data.language);
        for (const line of data.history) {
          if (line.from === "resident") bubble("me", line.text);
          else drawReply(line, line.live === true);
        }
      }
    } catch (error) {
      // the page works without its history
    } finally {
      busy = false;
      body.classList.remove("busy");
    }
  }

  async function poll() {
    if (!document.hidden && !busy) {
      try {
        const { data } = await call("GET", "/chat/api/notices");
        if (data && data.replies && data.replies.length) show(data);
      } catch (error) {
        // offline for a moment: try again at the next tick
      }
    }
    window.setTimeout(poll, POLL_MS);
  }

  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const words = text.value;
    text.value = "";
    say(words);
  });
  phoneForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("phone-input");
    const phone = input.value;
    input.value = "";
    say(phone);
  });
  $("photo-input").addEventListener("change", (event) => {
    const file = event.target.files && event.target.files[0];
    event.target.value = "";
    if (file) sendPhoto(file);
  });
  $("tickets-button").addEventListener("click", showTickets);
  $("tickets-close").addEventListener("click", () => {
    $("tickets").hidden = true;
  });
  $("new-button").addEventListener("click", () => {
    hideKeyboard();
    bubble("me", s("web_new_request"));
    send("/chat/api/message", { text: "/new" });
  });
  $("lang-button").addEventListener("click", () => {
    press("lang:" + (language === "zh" ? "en" : "zh"));
  });

  chrome();
  restore().then(() => {
    body.classList.add("ready");
    poll();
  });
})();
