#!/usr/bin/env python3
"""An FTPS server over a folder, for the smoke run: explicit TLS (`AUTH TLS`) required on the
control connection and on every data connection (`PROT P`), as vsftpd and most FTPS servers
set it up; pyftpdlib, from PyPI.

Usage: ftps_server.py DIR PORT USER PASSWORD CERT KEY
"""

import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    folder, port, user, password, cert, key = sys.argv[1:7]
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, folder, perm="elradfmwMT")
    handler = TLS_FTPHandler
    handler.authorizer = authorizer
    handler.certfile = cert
    handler.keyfile = key
    handler.tls_control_required = True
    handler.tls_data_required = True
    FTPServer(("127.0.0.1", int(port)), handler).serve_forever()


if __name__ == "__main__":
    main()
