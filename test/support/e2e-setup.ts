// End-to-end steps wait for real containers and real `pulumi` runs.
jest.setTimeout(10 * 60 * 1000);
