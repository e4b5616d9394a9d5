def test_one_round_end_to_end(market, pairs, campaign_fields):
    req = market.requester()
    c = req.create_campaign(**campaign_fields)
    assert req.upload_items(c["id"], pairs(10)) == {"campaign_id": c["id"], "imported": 10, "format": "pair", "refused": []}
    anns = market.annotators(3)
    r = req.open_round(c["id"])
    assert r["state"] == "open" and r["demand"] == 10
    for i, a in enumerate(anns):
        a.place_bid(r["id"], 10 + 5 * i, capacity=4)
    r = req.close_round(r["id"])
    assert r["state"] == "cleared", r
    for a in anns:
        for asg in a.my_assignments(state="open"):
            a.submit_label(asg["id"], "a")
    r = req.get_round(r["id"])
    assert r["state"] == "settled", r
    s = req.campaign_summary(c["id"])
    assert s["balanced"] and s["labels"] == r["n_assignments"]
    print(r, s)
