//! fetch_buy_orders
