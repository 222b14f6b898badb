"""Who may do what: accounts and roles, API tokens, the caller of a command, and the throttle on failed sign-ins."""
