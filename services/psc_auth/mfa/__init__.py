"""The second factors of Pro Santé Connect: the CPS card (a PIN, three wrong ones block the
card) and the e-CPS app (a push to Accept or Refuse, or a TOTP code, RFC 6238).

The real card is read by a card reader through the CPS middleware (Cryptolib); the real
e-CPS is an Android/iOS app. Both are simulated here by pages and by ``/_sandbox/`` drivers.
"""
