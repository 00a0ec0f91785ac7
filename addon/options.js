// The add-on's one setting, stored where background.js reads it.
const box = document.getElementById("scriptInjection");
browser.storage.local.get({ scriptInjection: true }).then((s) => {
  box.checked = s.scriptInjection !== false;
});
box.addEventListener("change", () => browser.storage.local.set({ scriptInjection: box.checked }));
