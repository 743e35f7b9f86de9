"""Running built artifacts locally: `fpack invoke` (one event through an artifact, in a container
of its target's runtime) and `fpack serve` (an http function on 127.0.0.1 from its artifact).

`invoke.py` lays an artifact out and runs it, `serve.py` keeps it running behind a port, and
`events.py` converts the packaged `samples/` (or the user's event file) into what each runtime
takes and the answer into one shape. The scripts these runs copy into their containers are in
`fpack/guest/`. Nothing here is part of an artifact.
"""
