"""A Flask app: a form POST that redirects (Post/Redirect/Get), and a page that sets a cookie."""

from flask import Flask, make_response, redirect, request, url_for
from werkzeug.wrappers import Response

app = Flask(__name__)


@app.get("/")
def form() -> str:
    return (f'<form method="post" action="{url_for("submit")}">'
            '<input name="name"><input name="qty"></form>')


@app.post("/orders")
def submit() -> Response:
    name, qty = request.form["name"], int(request.form.get("qty", "1"))
    return redirect(url_for("thanks", name=name, qty=qty))


@app.get("/thanks")
def thanks() -> Response:
    response = make_response({"thanks": request.args["name"], "qty": int(request.args["qty"]),
                              "script_root": request.script_root, "path": request.path})
    response.set_cookie("ordered", "yes", path="/")
    return response
