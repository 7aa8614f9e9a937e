"""Physical constants (SI units) used everywhere in jaxbatt."""

FARADAY = 96485.3321  # C/mol
GAS_CONSTANT = 8.3145  # J/(mol K)
KMOL_PER_M3 = 1000.0  # mol/m^3 in one kmol/m^3 (= mol/L)
