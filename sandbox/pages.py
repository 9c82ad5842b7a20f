"""HTML of the authorization portal: login, consent ("App Authorization | TikTok For Business"), errors.

Every dynamic value goes through `html.escape`. Forms post back to the portal with the original
`/portal/auth` query in their action URL, so it survives the login step.
"""

from __future__ import annotations

from html import escape

PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("Read Business Center", "View your Business Centers, their assets and settings."),
    ("Business Center Member Management", "View the members of your Business Centers and their roles."),
    ("Partner Management", "View your Business Center partners and the assets shared with them."),
)

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#f1f1f2;margin:0;color:#161823}
header{background:#000;color:#fff;padding:14px 24px;font-weight:600}
main{max-width:440px;margin:48px auto;background:#fff;border-radius:8px;padding:32px;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:22px;margin:0 0 16px}label{display:block;margin:12px 0 4px;font-size:14px}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:10px;border:1px solid #ccc;
border-radius:4px}button{margin-top:20px;padding:10px 20px;border:0;border-radius:4px;font-size:15px;cursor:pointer}
.primary{background:#fe2c55;color:#fff}.secondary{background:#eee;color:#161823;margin-left:8px}
.error{background:#fdecef;color:#b00020;padding:10px;border-radius:4px;margin-bottom:12px}
.muted{color:#6b6d76;font-size:13px}li{margin:8px 0}
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><header>TikTok For Business</header>"
        f"<main>{body}</main></body></html>"
    )


def login_page(action: str, email: str = "", error: str = "") -> str:
    """Log in form: fields `email` and `password`, button "Log in"."""
    notice = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>Log in</h1>{notice}"
        f'<form method="post" action="{escape(action)}">'
        f'<label for="email">Email</label><input type="email" id="email" name="email" '
        f'value="{escape(email)}" autocomplete="username" required>'
        '<label for="password">Password</label><input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<button type="submit" class="primary">Log in</button></form>'
        '<p class="muted">Sandbox: every account\'s password is <code>sandbox-pass</code>.</p>'
    )
    return _page("Log in | TikTok For Business", body)


def consent_page(
    action: str, switch_url: str, app_name: str, app_id: str, user_name: str, user_email: str, csrf: str
) -> str:
    """The consent page naming the app and its permissions, with "Confirm" and "Cancel"."""
    items = "".join(
        f'<li><strong>{escape(name)}</strong><br><span class="muted">{escape(text)}</span></li>'
        for name, text in PERMISSIONS
    )
    body = (
        f"<h1>App Authorization</h1>"
        f"<p><strong>{escape(app_name)}</strong> (App ID {escape(app_id)}) would like to access your "
        f"TikTok For Business account with these permissions:</p><ul>{items}</ul>"
        f'<p class="muted">Logged in as {escape(user_name)} ({escape(user_email)}). '
        f'<a href="{escape(switch_url)}">Switch account</a></p>'
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit" name="decision" value="confirm" class="primary">Confirm</button>'
        '<button type="submit" name="decision" value="cancel" class="secondary">Cancel</button></form>'
    )
    return _page("App Authorization | TikTok For Business", body)


def error_page(message: str) -> str:
    body = f'<h1>Authorization failed</h1><p class="error" role="alert">{escape(message)}</p>'
    return _page("Error | TikTok For Business", body)


def message_page(title: str, message: str) -> str:
    return _page(f"{title} | TikTok For Business", f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")
