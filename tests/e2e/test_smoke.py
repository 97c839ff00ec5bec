import httpx


def test_create_then_get_returns_the_user(http: httpx.Client) -> None:
    created = http.post(
        "/api/v2/users",
        json={
            "connection": "Username-Password-Authentication",
            "email": "Jane@Example.com",
            "password": "s3cret!pass",
            "user_metadata": {"hobby": "surfing"},
            "app_metadata": {"plan": "full"},
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    fetched = http.get(f"/api/v2/users/{user['user_id']}")
    assert fetched.json()["user_metadata"] == {"hobby": "surfing"}
    assert fetched.json()["email"] == "jane@example.com"
