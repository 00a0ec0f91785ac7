// The add-on's settings: script injection (stored where background.js reads
// it) and the page access it needs, which only a click here can grant.
const box = document.getElementById("scriptInjection");
browser.storage.local.get({ scriptInjection: true }).then((s) => {
  box.checked = s.scriptInjection !== false;
});
box.addEventListener("change", () => browser.storage.local.set({ scriptInjection: box.checked }));

const ALL_PAGES = { origins: ["<all_urls>"] };
const access = document.getElementById("access");
const allow = document.getElementById("allow");
const revoke = document.getElementById("revoke");

async function show() {
  const on = await browser.permissions.contains(ALL_PAGES);
  access.textContent = on ? "It may access every page." : "It may access no page yet.";
  allow.disabled = on;
  revoke.disabled = !on;
}

// permissions.request must run in the click's handler, before any await.
allow.addEventListener("click", () => browser.permissions.request(ALL_PAGES).then(show, show));
revoke.addEventListener("click", () => browser.permissions.remove(ALL_PAGES).then(show, show));
show();
