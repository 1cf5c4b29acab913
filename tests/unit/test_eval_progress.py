"""The eval progress columns report the run's average rate, not rich's 30-second window."""

from rich.progress import Progress

from groundex.agent.cli.eval_commands import RateColumn, RemainingColumn


def test_rate_and_remaining_time_average_over_the_posts_this_call_ran():
    now = [0.0]
    progress = Progress(get_time=lambda: now[0])
    task_id = progress.add_task("dev", total=1500, completed=420, done_before=420)
    task = progress.tasks[0]
    assert str(RateColumn().render(task)) == "- posts/s" and str(RemainingColumn().render(task)) == "-:--:--"
    now[0] = 240.0
    progress.update(task_id, advance=64)  # one batch of 64 posts after 4 minutes, all at once
    assert str(RateColumn().render(task)) == "0.27 posts/s"
    assert str(RemainingColumn().render(task)) == "1:03:30"  # 1016 posts left at 64 / 240 posts per second = 3810 s
