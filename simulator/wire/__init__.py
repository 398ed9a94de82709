"""The BILLMSG contract, standard library only: constants, TIMEDATE, layouts, records, the
codec, frame streams, the JSON form."""
