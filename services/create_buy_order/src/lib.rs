//! create_buy_order
