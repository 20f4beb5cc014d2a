"""How often each thing happens to a customer that follows no script."""

from __future__ import annotations

# Monthly probabilities of the random behaviour.
P_CANCEL_REQUEST = 0.008
P_WITHDRAW = 0.2
P_CANCEL_NOW = 0.002
P_FAIL = 0.025
P_RECOVER = 0.75
P_UPGRADE = 0.035
P_DOWNGRADE = 0.01
P_SEATS = 0.12
P_ADDON_ADD = 0.04
P_ADDON_REMOVE = 0.012
P_PAUSE = 0.005
P_ALWAYS_INVOICE = 0.5
P_ONE_OFF = 0.03
P_CHARGE = 0.012
P_REFUND = 0.01
P_CREDIT_NOTE = 0.008
P_DISPUTE = 0.0008
P_REACTIVATE = 0.25

# The setups of real accounts (issue 17), each for a few percent of the customers.
P_FLEXIBLE_DEFAULT = 0.9  # created once flexible billing mode was the API's default
P_FLEXIBLE_OPT_IN = 0.25  # created while it had to be asked for
P_YEARLY_FEE = 0.1  # of monthly plans: a yearly platform fee added (mixed intervals)
P_ITEM_DISCOUNT = 0.06  # of subscriptions with seats or add-ons and no coupon
P_CUSTOMER_DISCOUNT = 0.04  # of subscribers without a coupon of their own
P_ITEM_TRIAL = 0.4  # of add-ons added to a live subscription once flexible mode exists
P_NO_PAYMENT_METHOD = 0.1  # of trials: it ends without one, the subscription pauses
P_UNPAID = 0.3  # of failures never recovered: the subscription stays ``unpaid``
P_DELETE_CHURNED = 0.15  # of churned customers: deleted later
P_TEST_CLOCK = 0.015  # test mode only
P_ACCOUNT_V2 = 0.015
