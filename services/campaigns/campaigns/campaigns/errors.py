from servicekit.errors import NotFound


class CampaignNotFound(NotFound):
    type = "https://docs.retention.example/problems/campaign-not-found"

    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"No campaign with id {campaign_id}.")
