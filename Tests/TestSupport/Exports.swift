@_exported import Verifier
