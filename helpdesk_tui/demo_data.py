"""The words of the demo marketplace: names, listings, messages and templates (no logic here).

Message texts are ``str.format`` patterns. The fields they may use:
``{first}`` the customer's first name, ``{listing}`` a listing title, ``{seller}`` its seller,
``{town}`` a town, ``{ref}`` a payment reference, ``{amount}`` a rand amount,
``{offer}`` a buyer's offer, ``{agent}`` the replying agent's first name.
Templates use the helpdesk's own ``{{ placeholder }}`` syntax instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# -- people -----------------------------------------------------------------------------------
FIRST_NAMES = (
    "Thabo", "Sipho", "Lerato", "Nomvula", "Bongani", "Zanele", "Themba", "Ayanda", "Lindiwe",
    "Mandla", "Nandi", "Palesa", "Tshepo", "Refilwe", "Lwazi", "Busisiwe", "Sizwe", "Naledi",
    "Katlego", "Mpho", "Karabo", "Neo", "Dineo", "Lebohang", "Xolani", "Andile", "Siyabonga",
    "Nokuthula", "Zodwa", "Johan", "Annelie", "Marike", "Riaan", "Elmarie", "Francois",
    "Chantelle", "Wayne", "Shaun", "Megan", "Candice", "Jacques", "Liezl", "Priya", "Ravi",
    "Thashen", "Kavitha", "Yusuf", "Fatima", "Zaid", "Aaliyah", "Tariq", "Nadia", "Craig",
    "Michelle", "Brandon", "Tamryn", "Kyle", "Sibusiso", "Vusi", "Ntombi", "Tumelo",
    "Boitumelo", "Oratile", "Khanyisile", "Mthunzi", "Anathi", "Unathi", "Ruan", "Carmen",
)  # fmt: skip

SURNAMES = (
    "Nkosi", "Dlamini", "Ndlovu", "Khumalo", "Mokoena", "Mahlangu", "Zulu", "Mthembu",
    "Sithole", "Ngcobo", "Mabaso", "Molefe", "Botha", "van der Merwe", "Pretorius", "Nel",
    "du Plessis", "Venter", "Joubert", "Coetzee", "Naidoo", "Pillay", "Govender", "Moodley",
    "Reddy", "Patel", "Adams", "Jacobs", "Williams", "Peters", "Hendricks", "Jansen", "Maseko",
    "Radebe", "Mkhize", "Shabalala", "Tshabalala", "Modise", "Letsoalo", "Baloyi", "Maluleke",
    "Mathebula", "Chauke", "Mudau", "Fourie", "Kruger", "Ebrahim", "Cassim", "Isaacs",
    "Daniels", "February", "Abrahams", "Mabuza", "Nxumalo", "Qwabe", "Gumede", "Mokwena",
)  # fmt: skip

TOWNS = (
    "Soweto", "Sandton", "Randburg", "Midrand", "Centurion", "Pretoria East", "Durban North",
    "Umhlanga", "Pinetown", "Cape Town CBD", "Bellville", "Mitchells Plain", "Gqeberha",
    "East London", "Bloemfontein", "Polokwane", "Mbombela", "Rustenburg", "Kimberley",
    "Stellenbosch", "Pietermaritzburg", "Benoni", "Boksburg", "Roodepoort", "Tembisa",
    "Khayelitsha", "Germiston", "Kempton Park",
)  # fmt: skip

#: Businesses that sell on the marketplace, by listing category (always verified).
BUSINESSES = {
    "vehicles": ("Mzansi Motors", "Highveld Auto Sales"),
    "property": ("Karoo Coast Properties", "Jozi Rentals"),
    "electronics": ("TechHub Braamfontein", "PowerUp Solar & Backup"),
    "jobs": ("Ubuntu Staffing Solutions", "CapeWorks Recruitment"),
    "services": ("Sharp Plumbing & Geysers", "Brightside Events"),
}


# -- staff ------------------------------------------------------------------------------------
TEAMS = (
    ("support", "User-to-admin messages and issue reports: accounts, payments, listings."),
    ("marketplace", "Buyer-seller conversations: steps in when a seller has not replied in 4 h."),
    ("trust-safety", "Flagged listings, messages and accounts: moderated within 12 h."),
)

#: (username, display name, role, team). The admin comes first: it bootstraps the others.
AGENTS = (
    ("sipho", "Sipho Ndlovu", "admin", "support"),
    ("thandi", "Thandi Mokoena", "lead", "support"),
    ("pieter", "Pieter van der Merwe", "lead", "marketplace"),
    ("lerato", "Lerato Dlamini", "agent", "support"),
    ("kagiso", "Kagiso Mahlangu", "agent", "marketplace"),
    ("ayesha", "Ayesha Patel", "agent", "trust-safety"),
)

#: Who answers which queue, with weights.
RESPONDERS = {
    "support": (("lerato", 5), ("thandi", 3), ("sipho", 1)),
    "marketplace": (("kagiso", 3), ("pieter", 2)),
    "trust-safety": (("ayesha", 3), ("pieter", 1)),
}


# -- listings ---------------------------------------------------------------------------------
#: (category, title). Prices in rand, sometimes in the title as sellers write them.
LISTINGS = (
    ("vehicles", "2017 Toyota Hilux 2.8 GD-6 Raider D/C, 142 000 km - R389 000"),
    ("vehicles", "2019 VW Polo Vivo 1.4 Trendline, FSH, one owner"),
    ("vehicles", "2015 Ford Ranger 3.2 XLT 4x4 auto - R265 000"),
    ("vehicles", "2020 Suzuki Swift 1.2 GL, 38 000 km"),
    ("vehicles", "2012 BMW 320i E90 manual - R119 900 neg"),
    ("vehicles", "2018 Hyundai H100 bakkie with dropside"),
    ("vehicles", "2021 Toyota Corolla Cross 1.8 XS hybrid"),
    ("vehicles", "2014 Nissan NP200 1.6 - R79 000"),
    ("vehicles", "Honda CRF250L trail bike 2019, licensed"),
    ("vehicles", "2016 Toyota Quantum 2.5 D-4D 14-seater - R320 000"),
    ("vehicles", "2017 Mahindra Scorpio 2.2 mHawk"),
    ("vehicles", "2010 Mercedes-Benz C200 Kompressor auto"),
    ("vehicles", "4x Continental 265/65 R17 tyres, 70% tread - R4 800"),
    ("vehicles", "2019 Kia Picanto 1.0 Start, low mileage"),
    ("property", "2-bed apartment to rent in Sandton, backup power - R12 500 pm"),
    ("property", "Bachelor flat in Braamfontein, walk to Wits - R5 200 pm"),
    ("property", "3-bedroom house for sale, Rooihuiskraal, Centurion - R1 650 000"),
    ("property", "Room to rent in Pimville, Soweto, own entrance - R2 800 pm"),
    ("property", "Townhouse in Umhlanga Ridge, 2 bed 2 bath, pool in complex"),
    ("property", "Vacant stand 600 m2 in Bendor, Polokwane"),
    ("property", "Furnished garden cottage in Rondebosch - R9 000 pm"),
    ("property", "Student accommodation in Hatfield, NSFAS accredited"),
    ("property", "Office space to let, Bellville CBD, 120 m2"),
    ("property", "4-bed family home with borehole, Mbombela - R2 100 000"),
    ("property", "Holiday flat in Margate, sleeps 6 - from R1 200/night"),
    ("property", "Secure parking bay to rent, Cape Town CBD - R1 500 pm"),
    ("electronics", "iPhone 13 128GB, battery 89%, no scratches - R8 500"),
    ("electronics", "Samsung Galaxy A54 5G, boxed, with receipt"),
    ("electronics", 'Hisense 55" 4K Smart TV - R5 999'),
    ("electronics", "PlayStation 5 disc edition + 2 controllers"),
    ("electronics", "Lenovo ThinkPad T480 i5, 16GB RAM, 256GB SSD - R6 200"),
    ("electronics", "5kVA hybrid inverter + 2x 100Ah lithium batteries (load shedding kit)"),
    ("electronics", "MacBook Air M1 2020, 8GB/256GB - R11 000"),
    ("electronics", "Canon EOS 250D with 18-55 mm lens"),
    ("electronics", "Defy 2-door fridge, 350 L, good condition - R3 200"),
    ("electronics", "Huawei B535 4G router, unlocked"),
    ("electronics", "JBL PartyBox 310 speaker"),
    ("electronics", "Xbox Series S 512GB - R4 500"),
    ("electronics", "4x 410W solar panels, barely used"),
    ("electronics", 'Dell 24" monitors x2 - R1 800 each'),
    ("jobs", "Qualified electrician wanted, Midrand - R22 000 pm"),
    ("jobs", "Part-time barista, Stellenbosch, weekends"),
    ("jobs", "Code 10 driver needed for deliveries, Germiston"),
    ("jobs", "Domestic worker, 3 days a week, Randburg"),
    ("jobs", "Junior bookkeeper (Sage Pastel), Durban CBD"),
    ("jobs", "Call centre agents, isiZulu and English, Umhlanga - R9 500 pm + commission"),
    ("jobs", "Experienced chef for restaurant in Gqeberha"),
    ("jobs", "Security officers, PSIRA grade C, Pretoria"),
    ("jobs", "IT support learnership NQF 5, Johannesburg"),
    ("jobs", "Farm manager, Free State, accommodation provided"),
    ("services", "Plumber - burst geysers and leaks, 24/7, Johannesburg South"),
    ("services", "Solar and inverter installations, CoC issued, Gauteng"),
    ("services", "Mobile car wash and valet, Durban North"),
    ("services", "Maths & Science tutor, Grade 8-12, online or Pretoria East"),
    ("services", "Removals and furniture transport, bakkie for hire, Cape Town"),
    ("services", "Braai catering for events, from R180 per head"),
    ("services", "Hair braiding at your home, Soweto and surrounds"),
    ("services", "Garden services and tree felling, Bloemfontein"),
    ("services", "Phone screen repairs while you wait, Bellville"),
    ("services", "Wedding photographer, Western Cape - packages from R8 500"),
)

#: Listings that look wrong: they draw the flags (price too good, courier only, fee to apply).
SUSPICIOUS_LISTINGS = (
    ("vehicles", "2020 Toyota Fortuner 2.8 GD-6 - R95 000, urgent sale, going overseas"),
    ("electronics", "iPhone 15 Pro Max 256GB sealed - R6 000, courier only"),
    ("jobs", "Cashiers wanted at Shoprite, R350 registration fee, start Monday"),
)

#: Rand amounts a buyer might offer, as a share of nothing in particular: plain strings.
OFFERS = ("R3 000", "R4 200", "R7 800", "R10 500", "R85 000", "R250 000", "R355 000")
AMOUNTS = ("R49", "R79", "R99", "R149", "R199", "R299", "R449")


# -- conversations with support ---------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """One kind of request: what the customer writes and how support answers it.

    ``about``: "own" (the customer's own listing), "any" (a listing they saw) or "" (none).
    """

    kind: str
    category: str
    subject: str
    body: str
    reply: str
    followup: str = ""
    second_reply: str = ""
    about: str = ""
    priority: str = "normal"
    ask: str = ""  # a reply that asks for details (pending customer) in open conversations
    notes: tuple[str, ...] = field(default=())


USER_ADMIN = (
    Scenario(
        "user_admin",
        "payments",
        "Payment pending for Premium upgrade",
        'Hi, I paid {amount} for the Premium upgrade on my ad "{listing}" by EFT yesterday '
        "but it still says 'payment pending'. My reference was {ref}. Please check.",
        "Hi {first}, thanks for the reference. EFT payments from some banks take up to 48 "
        "hours to clear. I can see {ref} has now reflected and I've activated the Premium "
        "upgrade on your ad. Refresh the app and it should show.",
        "It shows now, thank you so much!",
        "Pleasure {first}, enjoy the extra views. Shout if anything else comes up.",
        about="own",
        ask="Hi {first}, I can't find {ref} yet. Could you send the proof of payment from "
        "your banking app (a screenshot is fine) so I can match it?",
        notes=("Checked PayFast dashboard: {ref} matched, upgrade activated manually.",),
    ),
    Scenario(
        "user_admin",
        "payments",
        "Refund for cancelled Boost not received",
        'Good day. I cancelled the {amount} Boost on "{listing}" within 24 hours like your '
        "policy says but I still don't have my refund after 10 days. Ref {ref}.",
        "Hi {first}, apologies for the wait. The refund of {amount} was processed on our side "
        "and sent back to the card you paid with. Banks take 5 to 7 working days to show it. "
        "If it isn't there by Friday, reply here and I'll chase it with the payment provider.",
        "Okay I see it now on my statement. Thanks.",
        "Great, thanks for confirming {first}. I'll close this one off.",
        about="own",
        ask="Hi {first}, could you confirm the last four digits of the card you paid with? "
        "I'll trace the refund from there.",
        notes=("Refund visible in PayFast, settled 3 days ago. Customer's bank is slow.",),
    ),
    Scenario(
        "user_admin",
        "account",
        "Password reset email never arrives",
        "I've tried to reset my password 4 times and the email never comes. Not in spam "
        "either. I have buyers waiting for replies, please help!",
        "Hi {first}, sorry about that. Your mailbox was rejecting our emails for a while, "
        "which is why the reset link never arrived. I've cleared the block and sent a fresh "
        "link just now; it works for one hour. Please check your inbox and Promotions tab.",
        "Got it and I'm back in, thanks!",
        "Lekker, glad you're back in {first}.",
        ask="Hi {first}, which email address are you using to log in? It may be different "
        "from the one you wrote from.",
    ),
    Scenario(
        "user_admin",
        "account",
        "How do I get the verified seller badge?",
        "Hi there, buyers keep asking if I'm legit. How do I get the green verified badge on "
        "my profile?",
        "Hi {first}, good question! Go to Profile > Verification, upload a photo of your ID "
        "or driver's licence and a proof of address not older than 3 months. We check it "
        "within 1 to 2 business days and the badge appears on all your ads.",
        "Uploaded now. How long again?",
        "Usually within one business day, {first}. You'll get an SMS once it's approved.",
    ),
    Scenario(
        "user_admin",
        "listings",
        "Why was my listing removed?",
        'My ad "{listing}" disappeared this morning without any explanation. I paid to '
        "boost it! Why was it removed?",
        "Hi {first}, I've looked at it: the ad was removed because the photos contained a "
        "phone number and a link to another website, which our posting rules don't allow. "
        "If you edit the photos and repost, it will go live again and I've moved the "
        "remaining boost days across.",
        "Ah okay, I didn't know. Reposted with new photos.",
        "Thanks {first}, the new ad is approved and live.",
        about="own",
    ),
    Scenario(
        "user_admin",
        "listings",
        "How do I mark my item as sold?",
        'Sold my "{listing}" yesterday. How do I mark it as sold so people stop messaging '
        "me at 11pm?",
        "Hi {first}, congratulations on the sale! Open the ad, tap the three dots and choose "
        "'Mark as sold'. The ad stays visible for 3 days with a SOLD banner and then is "
        "archived, and messaging is switched off straight away.",
        about="own",
    ),
    Scenario(
        "user_admin",
        "listings",
        "Change the price on my ad",
        'Hi, I want to drop the price on "{listing}" but I can\'t see where to edit it.',
        "Hi {first}, go to My Ads, open the ad and tap 'Edit'. The price is the second "
        "field. Saving a lower price also puts a 'Price reduced' tag on the ad for 7 days.",
        "Found it, thanks.",
        about="own",
    ),
    Scenario(
        "user_admin",
        "account",
        "Account suspended without warning",
        "My account was suspended and I don't know why. I've been selling on SayPro for 3 "
        "years with no complaints. This is my business!",
        "Hi {first}, I understand how disruptive this is. The suspension was automatic "
        "after several ads were reported as duplicates in one day. I've reviewed them, they "
        "were re-posts after edits, so I've lifted the suspension. Please edit existing ads "
        "rather than posting new ones.",
        "Thank you, I will do that.",
        "Thanks {first}, all sorted on our side.",
        ask="Hi {first}, I've opened an appeal for you. Could you tell me which email and "
        "cell number are on the account so I can confirm it's yours?",
        notes=("Suspension by duplicate-detector; 6 reposts within 1 h. Lifted.",),
    ),
    Scenario(
        "user_admin",
        "listings",
        "Charged twice for a duplicate listing?",
        'I see two copies of my ad "{listing}" and I was charged {amount} twice. Please '
        "remove one and refund me.",
        "Hi {first}, you're right, the app submitted the ad twice when the connection "
        "dropped. I've removed the duplicate and refunded the second {amount} to your card.",
        about="own",
    ),
    Scenario(
        "user_admin",
        "account",
        "Change the email address on my account",
        "I no longer use my old Gmail. How can I change the email on my SayPro account?",
        "Hi {first}, go to Profile > Account details > Email. We'll send a code to the new "
        "address to confirm it. Your ads and messages stay exactly as they are.",
    ),
    Scenario(
        "user_admin",
        "privacy",
        "Delete my account and data (POPIA)",
        "Please delete my account and all my personal information as per POPIA.",
        "Hi {first}, we've received your request under POPIA. Your account is deactivated now "
        "and your personal information will be deleted within 30 days, except what the law "
        "requires us to keep (payment records, 5 years). You'll get an email when it's done.",
        ask="Hi {first}, to protect your account we need to confirm it's you: please reply "
        "from the email address registered on the account.",
    ),
    Scenario(
        "user_admin",
        "payments",
        "VAT invoice for my business listings",
        "Good morning, our accountant needs tax invoices with our VAT number for the listing "
        "packages we bought this quarter. Where can I download them?",
        "Good morning {first}, invoices are under Business Account > Billing > Invoices. I've "
        "added your VAT number to the profile and regenerated the invoices for this quarter, "
        "so the downloads now show it.",
        "Perfect, got them. Dankie!",
    ),
    Scenario(
        "user_admin",
        "marketplace",
        "Seller is not responding to my messages",
        'I\'ve sent three messages about "{listing}" since Monday and the seller just reads '
        "them and doesn't answer. Is the ad even real?",
        "Hi {first}, thanks for letting us know. The seller has been inactive for a few days, "
        "so I've sent them a reminder. If they don't reply within 24 hours we'll hide the "
        "ad. Please never pay a deposit before seeing the item in person.",
        about="any",
    ),
    Scenario(
        "user_admin",
        "safety",
        "Is it safe to pay a deposit before viewing?",
        "A seller wants a R2 000 deposit to 'hold' \"{listing}\" before I can view it. Is that "
        "normal?",
        "Hi {first}, please don't pay. Genuine sellers let you view first. Meet in a public "
        "place (many police stations have safe-exchange zones), check the item and pay only "
        "when you have it. I've asked our Trust & Safety team to look at that ad.",
        "Thank you, I nearly paid. Glad I asked.",
        about="any",
    ),
    Scenario(
        "user_admin",
        "listings",
        "Listing expired, how do I renew it?",
        'My ad "{listing}" says expired. Do I have to post it again from scratch?',
        "Hi {first}, no need: open My Ads > Expired and tap 'Renew'. It goes live again for "
        "60 days with all photos and your messages kept.",
        about="own",
    ),
    Scenario(
        "user_admin",
        "account",
        "OTP SMS not arriving",
        "I'm not receiving the OTP to log in. I'm on MTN. Tried many times since this morning.",
        "Hi {first}, one of the SMS gateways had delays with MTN numbers this morning; it's "
        "been fixed. Please try again. If it still doesn't come, choose 'Send by email "
        "instead' on the OTP screen.",
        "Came through now.",
        priority="high",
    ),
    Scenario(
        "user_admin",
        "payments",
        "Promo code SAYPRO20 not working",
        "The promo code SAYPRO20 from your newsletter says 'invalid' at checkout.",
        "Hi {first}, sorry for the confusion: SAYPRO20 is for new business accounts only. "
        "I've applied an equivalent 20% discount to your next Boost manually instead.",
        "Thanks, that's kind.",
        priority="low",
    ),
)

ISSUE_REPORTS = (
    Scenario(
        "issue_report",
        "app",
        "App crashes when I open messages (Android)",
        "Every time I tap Messages the app closes. Samsung A14, Android 14, latest update.",
        "Hi {first}, thanks for the detail. This is a known problem with the latest version on "
        "some Samsung phones; a fix is going out in the next update. Meanwhile messages work "
        "on the website from your phone's browser.",
        "Update came and it works now.",
        "Thanks for letting us know {first}, closing this one.",
        ask="Hi {first}, could you tell me the app version (Settings > About) and send a "
        "screenshot of the error if one shows?",
    ),
    Scenario(
        "issue_report",
        "fraud",
        "Buyer sent me a fake proof of payment",
        "Someone 'bought' my \"{listing}\" and sent a proof of payment from Capitec, but "
        "nothing is in my account. Now he's sending a 'driver' to fetch it. I think it's a "
        "scam.",
        "Hi {first}, you're right to be careful: proofs of payment are easy to fake. Never "
        "release an item until the money shows as available in your own banking app. We've "
        "suspended that buyer's account and blocked the number. Thanks for reporting it.",
        "Thank you, I told him no.",
        about="own",
        priority="high",
        notes=("Buyer account linked to 2 other fake-POP reports. Suspended.",),
    ),
    Scenario(
        "issue_report",
        "fraud",
        "Seller wants payment by eWallet before viewing",
        "The seller of \"{listing}\" says I must send R1 500 by eWallet to 'reserve' it and "
        "that he's working in Durban so I can't view. Looks dodgy.",
        "Hi {first}, this matches a common scam pattern. Please don't send any money. We've "
        "taken the ad down while we investigate and will act on the seller's account.",
        about="any",
        priority="high",
    ),
    Scenario(
        "issue_report",
        "app",
        "Search filter for Gauteng shows Western Cape ads",
        "When I filter by Gauteng I still get lots of Cape Town results for cars.",
        "Hi {first}, thanks for reporting this. Some dealers set their location to a head "
        "office instead of the car's location. We've corrected the ones you saw and added a "
        "check for new ads.",
    ),
    Scenario(
        "issue_report",
        "app",
        "No notifications for new messages",
        "I stopped getting notifications for new messages a week ago. I only see them when I "
        "open the app, and buyers think I'm ignoring them.",
        "Hi {first}, please check Settings > Notifications in the app: an update reset this "
        "for some users. I've also switched on SMS alerts for new buyer messages on your "
        "account as a backup.",
        "It was switched off. Working now.",
    ),
    Scenario(
        "issue_report",
        "abuse",
        "Buyer sending abusive messages",
        'A buyer I declined is now sending me insults and threats about "{listing}". I don\'t '
        "feel safe.",
        "Hi {first}, I'm sorry you had to deal with that. We've blocked the buyer from "
        "contacting you and suspended their account. If you feel threatened, please also "
        "report it to SAPS; we will cooperate with any investigation.",
        about="own",
        priority="high",
        notes=("Messages reviewed: clear threats. Buyer account suspended permanently.",),
    ),
    Scenario(
        "issue_report",
        "app",
        "Cannot upload more than 3 photos",
        "The app won't let me add a 4th photo to my ad. It just spins.",
        "Hi {first}, the app limits each photo to 10 MB; phones set to 'high resolution' "
        "produce bigger files. Switching the camera to standard size fixes it, and we're "
        "adding automatic resizing soon.",
        "Okay that worked.",
    ),
    Scenario(
        "issue_report",
        "fraud",
        "Someone is using my photos in their ad",
        'Another ad is using the exact photos of my "{listing}", including my gate and '
        "house number. Please remove it!",
        "Hi {first}, thank you. We've removed the copy and suspended the account that posted "
        "it. It's a common trick to lure buyers into paying deposits for things that don't "
        "exist.",
        about="own",
        priority="high",
    ),
    Scenario(
        "issue_report",
        "payments",
        "Payment page times out at 3D Secure",
        "When I try to pay for a Boost the 3D Secure page times out and sends me back. FNB card.",
        "Hi {first}, the payment provider had a problem with FNB 3D Secure for about two hours "
        "this morning; it's resolved now. No money was taken for the failed attempts.",
    ),
    Scenario(
        "issue_report",
        "app",
        "Location shows the wrong town on my ad",
        'My ad "{listing}" shows Kimberley but I\'m in {town}.',
        "Hi {first}, the location came from your phone's GPS when you posted. I've corrected "
        "it to {town}; you can also change it under Edit > Location.",
        about="own",
        priority="low",
    ),
    Scenario(
        "issue_report",
        "fraud",
        "Rental ad asks for deposit, flat doesn't exist",
        "I went to view the flat in \"{listing}\" and the address is a shop. The 'landlord' "
        "already took R4 000 from my friend for the deposit.",
        "Hi {first}, thank you for reporting this and I'm sorry about your friend. We've "
        "removed the ad and suspended the account. Your friend should open a case at SAPS; "
        "we'll provide the account details to the investigating officer on request.",
        about="any",
        priority="urgent",
    ),
    Scenario(
        "issue_report",
        "app",
        "Chat shows messages out of order",
        "In my chat with a buyer the newest messages sometimes show at the top.",
        "Hi {first}, thanks. This happens when the phone's clock is wrong; please set Date & "
        "time to automatic. We're also changing the app to sort by our server's time.",
        priority="low",
    ),
)


# -- buyer <-> seller ---------------------------------------------------------------------------
#: Per listing category: (buyer question, seller answer). Both may use {listing} and {town}.
BUYER_QUESTIONS = {
    "vehicles": (
        (
            "Hi, is the {listing} still available? Can I view it on Saturday?",
            "Morning, yes still available. Saturday from 10:00 is fine, I'm in {town}.",
        ),
        (
            "Good day, does it have a service history and are the papers in order?",
            "Hi, full service history and the papers are in my name. No accidents.",
        ),
        (
            "What's your best cash price? I can pay {offer} today.",
            "Sorry, I can't go that low. Lowest is 5% off the asking price.",
        ),
        (
            "Is it licensed, and is there a roadworthy certificate?",
            "Licence disc is valid till November. I'll do the roadworthy for the buyer.",
        ),
        (
            "Would you consider a trade-in? I have a 2011 Polo.",
            "No trade-ins sorry, cash or bank transfer only.",
        ),
    ),
    "property": (
        (
            "Is the place still available from the 1st? Are water and lights included?",
            "Yes available from the 1st. Water included, electricity is prepaid.",
        ),
        ("Can I view it this week after 17:00?", "Thursday at 17:30 works. I'll send the address."),
        (
            "Are pets allowed? I have a small dog.",
            "Small pets are fine with an extra R500 deposit.",
        ),
        (
            "What's the deposit and which documents do you need?",
            "One month's deposit. 3 months' payslips and a copy of your ID.",
        ),
        (
            "Is there backup power for load shedding?",
            "Yes, there's an inverter for lights and Wi-Fi.",
        ),
    ),
    "electronics": (
        (
            "Still available? Is there any warranty left?",
            "Still available, 4 months warranty left, I have the slip.",
        ),
        (
            "Can you do {offer}? I can collect in {town}.",
            "Can meet you in the middle. Let's do it at the mall.",
        ),
        ("Does it come with the charger and the box?", "Yes, everything in the original box."),
        (
            "Can we meet at a police station to do the exchange?",
            "Sure, the one in {town} has a safe-exchange spot.",
        ),
        (
            "Is it unlocked and signed out of iCloud/Google?",
            "Yes, factory reset and signed out. You can check when we meet.",
        ),
    ),
    "jobs": (
        (
            "Good day, I'm interested in the position. Where do I send my CV?",
            "Hi, please send your CV and certificates here or to the email on the ad.",
        ),
        (
            "Is the position still open? I have 3 years' experience.",
            "Still open. Interviews are next week, send your CV.",
        ),
        (
            "Is transport provided? I stay in {town}.",
            "No transport, but the site is near the taxi rank.",
        ),
        ("What are the working hours?", "Monday to Friday 07:30 to 16:30, some Saturdays."),
    ),
    "services": (
        (
            "Hi, can you give me a quote? I'm in {town}.",
            "Hi, yes I cover {town}. Send photos and I'll quote today.",
        ),
        ("Are you available this Saturday morning?", "Saturday 09:00 is open, I'll book you in."),
        (
            "Do you give a guarantee or a certificate of compliance?",
            "All work has a 6-month guarantee and CoC where needed.",
        ),
        (
            "How much for 50 people?",
            "For 50 it's R9 000 including setup. Deposit 50% to book the date.",
        ),
    ),
}

BUYER_FOLLOWUPS = (
    (
        "Great, I'll take it. Can I pay by EFT?",
        "EFT is fine, I'll hand over once it reflects in my account.",
    ),
    ("Thanks. See you then.", "Cool, see you."),
    ("Can you send a few more photos?", "Sent 4 more photos on the ad now."),
    ("Okay thanks, I'll think about it.", "No problem, shout if you're still keen."),
)

BUYER_SUBJECTS = ("Question about {listing}", "Re: {listing}", "{listing}", "Enquiry: {listing}")

#: Support's reply when it steps in for a seller who hasn't answered within 4 hours.
STEP_IN_REPLIES = (
    "Hi {first}, I'm {agent} from SayPro support. The seller hasn't answered yet, so we've "
    "sent them a reminder by SMS. If they don't reply by tomorrow we'll let you know and "
    "suggest similar ads.",
    'Hi {first}, {agent} from SayPro here. We\'ve contacted the seller of "{listing}" for '
    "you. Meanwhile, please don't pay anything before viewing.",
)


# -- moderation -------------------------------------------------------------------------------
FLAG_REASONS = {
    "listing": (
        "Suspected scam: price far too low, seller says he is overseas",
        "Prohibited item: counterfeit goods",
        "Duplicate listing posted 5 times",
        "Stolen photos from a dealer website",
        "Job ad asks applicants to pay a registration fee",
        "Spam: links to an external website",
    ),
    "message": (
        "Asks for deposit via eWallet before viewing",
        "Offensive language",
        "Phishing link sent in chat",
    ),
    "party": (
        "Same person posting under several accounts",
        "Harassing other users",
    ),
}

MODERATION_NOTES = (
    "Listing removed; seller warned (first strike).",
    "Checked: photos match a dealer's site. Listing removed, account suspended.",
    "No policy breach found, flag dismissed.",
    "Duplicates removed, kept the oldest ad.",
    "Account suspended pending ID verification.",
)


# -- agents' notes, escalations, feedback ----------------------------------------------------------
INTERNAL_NOTES = (
    "Customer has two earlier tickets about the same ad: keep an eye on it.",
    "Called the customer, no answer. Will try again after 14:00.",
    "Refund above R500 needs lead approval.",
    "Asked finance to confirm the settlement date.",
    "Checked the logs: the reset email bounced (mailbox full).",
)

ESCALATION_REASONS = (
    "Customer threatening a chargeback; refund needs approval",
    "Refund above the agent limit (R500)",
    "Possible fraud ring: same bank account on three ads",
    "Customer asked for a manager",
)

#: What customers write back while a conversation is in progress.
OPEN_FOLLOWUPS = (
    "I tried that but it still doesn't work.",
    "Any update on this please? It's been a while.",
    "Okay, and how long will that take?",
    "I did that and now it says 'Something went wrong'.",
    "Sorry, one more question: does this also apply to my other ads?",
    "Thanks. Can you confirm once it's done?",
)

#: How agents close a thread after a customer's thanks.
CLOSINGS = (
    "Pleasure {first}, glad it's sorted. Have a good day!",
    "Thanks {first}, I'll close this conversation now. Reply here if you need anything else.",
    "Great to hear, {first}. Enjoy the rest of your week.",
)

SELLER_SILENT_REASON = "Seller has not replied within 4 h: support stepping in"

FEEDBACK_COMMENTS = {
    5: ("Quick and helpful, thank you!", "Sorted within an hour. Great service.",
        "Very helpful, explained everything clearly.", "Ngiyabonga! Problem solved.",
        "Baie dankie, vinnige diens.", "Friendly agent and a fast reply.", ""),
    4: ("Good service, took a little while.", "Helpful, thanks.", "All sorted.", ""),
    3: ("Got there in the end but it took a while.", "Okay, but I had to explain twice.", ""),
    2: ("Took two days to get a reply.", "Generic answer, didn't really read my message."),
    1: ("Still not resolved, very frustrating.", "Refund took far too long. Not happy."),
}  # fmt: skip


# -- the open queue right now: special cases ---------------------------------------------------
URGENT_HACKED = Scenario(
    "user_admin",
    "account",
    "Account hacked: someone is changing my ads",
    "Someone logged into my account and changed the banking details on all my ads to a "
    "different account! Buyers are paying them. Please lock my account NOW.",
    "Hi {first}, I've locked your account and taken your ads offline so nobody else pays "
    "the wrong account. Please reset your password from a trusted device; I'll restore the "
    "ads once you're back in.",
    priority="urgent",
)

CHARGED_TWICE = Scenario(
    "user_admin",
    "payments",
    "Charged twice for Business package",
    "I was charged R1 299 twice for the Business package this morning. Both show on my "
    "Standard Bank statement. Please refund the double charge urgently, it's my rent money.",
    "Hi {first}, I can see both charges. The second one is a duplicate and I've asked our "
    "payments team to reverse it today.",
    "Thank you. How long will the reversal take? I need to pay rent on Friday.",
    priority="high",
)

ESCALATED_FRAUD = Scenario(
    "issue_report",
    "fraud",
    "Lost R15 000 deposit on a fake vehicle ad",
    'I paid a R15 000 deposit for "{listing}" after the seller sent me a copy of the '
    "registration papers. Now his number is off and the ad is still up. I've opened a case "
    "at SAPS. What are you going to do?",
    "Hi {first}, I'm very sorry. We've taken the ad down and frozen the seller's account. "
    "This is now with our management team and we'll share what we have with SAPS.",
    about="any",
    notes=("Same bank account used on 3 other vehicle ads this month. Lead informed.",),
)

ON_HOLD_CASE = Scenario(
    "user_admin",
    "payments",
    "Boost paid but never activated",
    'I paid {amount} for a 7-day Boost on "{listing}" on Monday, money is gone but the ad '
    "was never boosted.",
    "Hi {first}, the payment provider has the transaction in 'pending settlement'. I've "
    "logged it with them and put your ticket on hold until they confirm; you don't need to "
    "do anything.",
    about="own",
    notes=("Waiting on PayFast investigation ticket PF-88213.",),
)

#: The customer's answer (with a screenshot) to the payment question USER_ADMIN[0] asks.
ATTACHMENT_BODY = (
    'Hi, as requested here is my proof of payment for the Premium upgrade on "{listing}". '
    "Reference {ref}. Please sort it out today, the ad is for the weekend."
)
ATTACHMENT_NAME = "proof-of-payment.png"
#: A real 24x16 PNG (a tiny receipt), base64.
ATTACHMENT_PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAAM0lEQVR42mPQoBJgAOL/FAPaGBRFCqCLiwbGa2i+"
    "G2ZeQ/bdIPcaHsDQY4MLDXKvUQUAAGWQS4UnTsSZAAAAAElFTkSuQmCC"
)

#: Hostile-looking but harmless: markup and a terminal escape the console must show inert.
HOSTILE_SUBJECT = "[bold]URGENT[/bold] refund NOW or I go to Carte Blanche"
HOSTILE_BODY = (
    "\u001b[31mTHIS IS MY LAST WARNING\u001b[0m\n"
    "You took R299 for a Boost that did nothing. [link=https://example.invalid]Click here[/link] "
    "to see my bank statement. [@click=app.quit]Refund me[/] or I post this everywhere."
)


# -- templates ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemplateText:
    name: str
    shortcut: str
    category: str
    tags: str
    body: str


TEMPLATES = (
    TemplateText(
        "Acknowledgement",
        "ack",
        "general",
        "ack",
        "Hi {{ customer_name }},\n\nThanks for contacting SayPro Classifieds support. We've "
        'received your message about "{{ subject }}" (ref {{ conversation_ref }}) and an '
        "agent will reply within 24 hours, usually much sooner. There's no need to send it "
        "again.\n\nSayPro Support",
    ),
    TemplateText(
        "Refund status",
        "refund",
        "payments",
        "faq payments",
        "Hi {{ customer_name }},\n\nYour refund has been processed on our side and sent back "
        "to the card or account you paid from. Banks take 5 to 7 working days to show it on "
        "your statement. If it hasn't reflected after 7 working days, reply here with your "
        "payment reference and we'll trace it with our payment provider.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Payment pending (EFT)",
        "pending",
        "payments",
        "payments",
        "Hi {{ customer_name }},\n\nEFT payments can take up to 48 hours to clear, depending "
        "on your bank. Your upgrade activates automatically as soon as the money reflects. If "
        "it's been longer than 48 hours, please send your proof of payment (a screenshot from "
        "your banking app is fine) and we'll match it by hand.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Listing removed for policy",
        "removed",
        "listings",
        "policy",
        'Hi {{ customer_name }},\n\nYour ad "{{ listing_title }}" was removed because it '
        "doesn't meet our posting rules (for example: contact details or links in photos, "
        "prohibited items, or a misleading price). You're welcome to edit and repost it; "
        "the rules are under Help > Posting rules. Any paid boost days will be moved to the "
        "new ad.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "How to mark an item as sold",
        "sold",
        "listings",
        "faq listings",
        "Hi {{ customer_name }},\n\nCongratulations on the sale! Open the ad, tap the three "
        "dots and choose 'Mark as sold'. Messaging on the ad stops straight away and the ad "
        "is archived after 3 days.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Report a scam",
        "scam",
        "safety",
        "faq safety",
        "Hi {{ customer_name }},\n\nThank you for reporting this. Please don't send any money "
        "or share OTPs or banking PINs. We've passed the details to our Trust & Safety team, "
        "who act within 12 hours. If you've already paid, open a case at your nearest SAPS "
        "station and send us the case number so we can help the investigation.\n\n"
        "{{ agent_name }}",
    ),
    TemplateText(
        "Account verification (verified badge)",
        "verify",
        "account",
        "faq account",
        "Hi {{ customer_name }},\n\nTo get the verified badge, go to Profile > Verification "
        "and upload your ID or driver's licence and a proof of address not older than 3 "
        "months. We check documents within 1 to 2 business days and the badge shows on all "
        "your ads.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Seller not responding",
        "noreply",
        "marketplace",
        "marketplace",
        'Hi {{ customer_name }},\n\nThe seller of "{{ listing_title }}" hasn\'t replied yet, '
        "so we've sent {{ seller_name }} a reminder. Most sellers answer within 4 hours; if "
        "there's no answer by tomorrow we'll let you know. Please don't pay anything before "
        "you've seen the item.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Safe meet-up and collection tips",
        "safety",
        "safety",
        "faq safety",
        "Hi {{ customer_name }},\n\nA few tips for a safe deal:\n- meet in a public place in "
        "daylight; many SAPS stations have safe-exchange zones\n- take someone with you\n- "
        "check the item before paying\n- only hand over goods once the money shows as "
        "available in your own banking app (proofs of payment can be faked)\n- never pay a "
        "deposit to 'hold' an item you haven't seen\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Courier and shipping tips",
        "courier",
        "safety",
        "faq safety",
        "Hi {{ customer_name }},\n\nIf you can't meet in person, use a tracked service (PEP "
        "Paxi, Pudo lockers, PostNet) that you book yourself. Never pay a 'courier fee' to a "
        "courier the buyer or seller chooses for you, and never share an OTP to 'release' a "
        "payment.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Password reset",
        "reset",
        "account",
        "faq account",
        "Hi {{ customer_name }},\n\nI've sent a new password reset link to the email on your "
        "account; it works for one hour. Check the Spam and Promotions folders too. If it "
        "doesn't arrive, reply here and we'll reset it for you after confirming your cell "
        "number.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Suspended account appeal",
        "appeal",
        "account",
        "account",
        "Hi {{ customer_name }},\n\nWe've received your appeal (ref {{ conversation_ref }}). "
        "A team lead reviews every appeal within 2 business days and we'll reply here with "
        "the outcome. While suspended, your ads are hidden but nothing is deleted.\n\n"
        "{{ agent_name }}",
    ),
    TemplateText(
        "Duplicate listing",
        "dup",
        "listings",
        "listings",
        'Hi {{ customer_name }},\n\nWe found more than one copy of "{{ listing_title }}". '
        "We've kept the oldest one and removed the duplicates. To change an ad, edit it "
        "instead of posting it again; repeated duplicates can lead to a suspension.\n\n"
        "{{ agent_name }}",
    ),
    TemplateText(
        "How to change your price",
        "price",
        "listings",
        "faq listings",
        'Hi {{ customer_name }},\n\nGo to My Ads, open "{{ listing_title }}" and tap '
        "'Edit'. The price is the second field. A lower price adds a 'Price reduced' tag for "
        "7 days.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Renew an expired ad",
        "renew",
        "listings",
        "faq listings",
        "Hi {{ customer_name }},\n\nOpen My Ads > Expired and tap 'Renew'. The ad goes live "
        "again for 60 days with its photos and messages.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Need more information",
        "info",
        "general",
        "",
        "Hi {{ customer_name }},\n\nThanks for your message. So that I can help, could you "
        "send me:\n- the email or cell number on your account\n- the ad's title or link\n- a "
        "screenshot of the problem, if you can\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Escalation notice",
        "esc",
        "general",
        "",
        'Hi {{ customer_name }},\n\nI\'ve escalated "{{ subject }}" (ref '
        "{{ conversation_ref }}) to a team lead so it gets the attention it needs. You'll "
        "hear from us within one business day.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "POPIA data request",
        "popia",
        "privacy",
        "privacy",
        "Hi {{ customer_name }},\n\nWe've received your request under the Protection of "
        "Personal Information Act. We'll complete it within 30 days and confirm by email. "
        "Records the law requires us to keep (such as payment records) are kept for the "
        "legal period only.\n\n{{ agent_name }}",
    ),
    TemplateText(
        "Thanks and closing",
        "close",
        "general",
        "",
        "Hi {{ customer_name }},\n\nGlad we could help! I'm closing this conversation now; "
        "if anything else comes up, just reply here and it will reopen. You may get a short "
        "survey: we read every answer.\n\nThanks for using SayPro Classifieds,\n"
        "{{ agent_name }}",
    ),
)
