"""The model layer: parameters (Eq. 1-8), one engine's baths, operators, closed forms (Eq. 13-20),
observables and thermodynamics. Imports nothing else of microsim."""
