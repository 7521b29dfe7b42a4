"""Platforms: a register of services, case evidence by stage, risk per harm, regulatory gaps.

The unit of analysis is a service or a part of one (a surface with its own features). The
register says what a service offers (Ofcom-style risk factors), how it checks ages, which
safeguards it has and how large it and its provider are; coded case files say at which stage of
grooming or exploitation it was misused. ``risk`` combines both under versioned, editable rules
into Ofcom-style levels per harm; ``regulation`` says which regimes apply and which high-risk
services no regime obliges to act. Scores are a prioritisation aid, not a legal determination.
"""
