// tabscope's own add-on: the agent, with the user's script-injection setting
// (the add-on's options page). Read before starting, so that the first hello
// already says whether scripts may run; changes apply at once.
(async () => {
  let scriptInjection = true;
  try {
    ({ scriptInjection } = await browser.storage.local.get({ scriptInjection: true }));
  } catch (e) {
    console.warn("tabscope: could not read the settings, using the defaults:", e);
  }
  const agent = TabscopeAgent.start({ scriptInjection });
  browser.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && changes.scriptInjection) {
      agent.setScriptInjection(changes.scriptInjection.newValue !== false);
    }
  });
})();
