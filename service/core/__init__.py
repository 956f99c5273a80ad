"""The foundation every other package stands on: settings (one pydantic-settings class), the one exception
hierarchy with its status map, Dutch number and time formatting, logging, the Jinja2 environment (autoescape)
with the error page, and the response schemas shared by the doors. It owns no data and imports nothing of
``service`` outside itself; everything else may import it."""
