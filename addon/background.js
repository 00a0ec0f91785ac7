// tabscope's own add-on: just the agent.
TabscopeAgent.start();
