"""Built-in postmortem templates (Jinja2, rendered in a sandbox to Markdown).

`standard.md.j2` follows the Atlassian postmortem structure; `concise.md.j2` is the short form.
Custom templates in POSTMORTEM_TEMPLATES_DIR add to these or override them by name.
"""
